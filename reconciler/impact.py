"""Blast radius of destructive changes: hours logged in the last 90 days and people assigned,
read from ClickTime's time report, so reviewers see what a deactivation or delete touches."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from reconciler.clicktime.client import ClickTimeClient
from reconciler.errors import ApiError
from reconciler.model import Kind, LiveState
from reconciler.plan import Plan

WINDOW_DAYS = 90
FILTER = {Kind.JOB: "JobID", Kind.CLIENT: "ClientID", Kind.USER: "UserID"}


def annotate_impact(client: ClickTimeClient, plan: Plan, live: LiveState, today: dt.date) -> Plan:
    """A copy of the plan whose deactivations and deletes of jobs, clients and users carry an
    impact note. Reads one time report per such object, plus a job's assignment list."""
    start = (today - dt.timedelta(days=WINDOW_DAYS)).isoformat()
    targets = [i for i, c in enumerate(plan.changes)
               if c.action.teardown and c.kind in FILTER and c.key in live.objects[c.kind]]
    if not targets:
        return plan

    def note(index: int) -> str:
        change = plan.changes[index]
        obj = live.objects[change.kind][change.key]
        try:
            rows = client.list_pages("Reports/Time", [(FILTER[change.kind], obj.id), ("StartDate", start),
                                                      ("EndDate", today.isoformat())], keyed=False)
        except ApiError as error:
            return f"impact unknown: the time report was refused ({'; '.join(error.messages)})"
        hours = sum(float(row.get("Hours") or 0) for row in rows)
        people = {row.get("UserID") for row in rows}
        text = f"impact: {hours:g} h logged in the last {WINDOW_DAYS} days by {len(people)} people"
        if change.kind is Kind.JOB:
            assigned = live.assignment_ids.get(change.key, {}).get("users")
            if assigned is None:
                try:
                    assigned = frozenset(client.assigned_ids(obj.id, "Users"))
                except ApiError:
                    assigned = None
            if assigned is not None:
                text += f"; {len(assigned)} people assigned"
        if change.kind is Kind.CLIENT:
            jobs = [j for j in live.objects[Kind.JOB].values() if j.key[0] == change.key[0] and j.active]
            text += f"; {len(jobs)} active job(s)"
        return text

    with ThreadPoolExecutor(max_workers=client.concurrency) as pool:
        notes = dict(zip(targets, pool.map(note, targets), strict=True))
    changes = tuple(replace(c, notes=(*c.notes, notes[i])) if i in notes else c for i, c in enumerate(plan.changes))
    return replace(plan, changes=changes)
