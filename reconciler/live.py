"""Fetch the live account through the ClickTime client into a LiveState keyed by natural key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Mapping

from reconciler.clicktime import assumptions
from reconciler.clicktime.client import ClickTimeClient
from reconciler.errors import BackendError
from reconciler.model import ASSIGNMENTS, KINDS, Key, Kind, LiveObject, LiveState, live_fields, normalise_email


def natural_key(kind: Kind, record: Mapping[str, Any], client_short_name_by_id: Mapping[str, str]) -> Key | None:
    if kind is Kind.CLIENT:
        return (record["ShortName"],)
    if kind is Kind.TASK:
        return (record["TaskCode"],)
    if kind is Kind.USER:
        return (normalise_email(record["Email"]),)
    client = client_short_name_by_id.get(record.get("ClientID") or "")
    return (client, record["JobNumber"]) if client else None


def assignment_lists_allowed(company: Mapping[str, Any]) -> dict[str, bool]:
    allowed = {}
    for list_name, (_, sub) in ASSIGNMENTS.items():
        setting, wanted = assumptions.ASSIGNMENT_REQUIRES[sub]
        allowed[list_name] = company.get(setting) == wanted
    return allowed


def build_live_state(records: Mapping[Kind, list[dict[str, Any]]], company: Mapping[str, Any],
                     me: Mapping[str, Any] | None = None) -> LiveState:
    state = LiveState(company=dict(company), me=dict(me or {}))
    client_by_id = {r["ID"]: r["ShortName"] for r in records[Kind.CLIENT]}
    email_by_id = {r["ID"]: normalise_email(r["Email"]) for r in records[Kind.USER]}
    for kind in KINDS:
        for record in records[kind]:
            key = natural_key(kind, record, client_by_id)
            if key is None:
                state.unkeyed[kind] = state.unkeyed.get(kind, 0) + 1
                continue
            if key in state.objects[kind]:
                raise BackendError(f"the account holds two {kind.section} with the key {'/'.join(key)} "
                                   f"(IDs {state.objects[kind][key].id} and {record['ID']}); resolve it in ClickTime")
            state.objects[kind][key] = LiveObject(kind, key, record["ID"], record,
                                                  live_fields(kind, record, email_by_id))
    return state


def fetch_live(client: ClickTimeClient, assignments_for: Mapping[Key, Iterable[str]] | None = None,
               all_assignments: bool = False) -> LiveState:
    """Read the whole account; assignment lists only for the jobs (and lists) asked for."""
    with ThreadPoolExecutor(max_workers=len(KINDS) + 2) as pool:
        company_read, me_read = pool.submit(client.company), pool.submit(client.me)
        lists = {kind: pool.submit(client.list, kind.collection) for kind in KINDS}
        records = {kind: future.result() for kind, future in lists.items()}
        company, me = company_read.result(), me_read.result()
    state = build_live_state(records, company, me)
    allowed = assignment_lists_allowed(company)
    wanted: dict[Key, set[str]] = {}
    if all_assignments:
        wanted = {key: {n for n, ok in allowed.items() if ok} for key in state.objects[Kind.JOB]}
    else:
        for key, lists in (assignments_for or {}).items():
            if key in state.objects[Kind.JOB]:
                wanted[key] = {n for n in lists if allowed[n]}
    read_assignments(client, state, wanted)
    return state


def read_assignments(client: ClickTimeClient, state: LiveState, wanted: Mapping[Key, Iterable[str]]) -> None:
    key_by_id = {kind: {obj.id: key for key, obj in state.objects[kind].items()} for kind in KINDS}
    reads = [(job_key, list_name) for job_key, lists in sorted(wanted.items()) for list_name in sorted(lists)]

    def read(item: tuple[Key, str]) -> frozenset[Key]:
        job_key, list_name = item
        target_kind, sub = ASSIGNMENTS[list_name]
        ids = client.assigned_ids(state.objects[Kind.JOB][job_key].id, sub)
        return frozenset(key_by_id[target_kind].get(i, (f"<unknown {target_kind.value} {i}>",)) for i in ids)

    with ThreadPoolExecutor(max_workers=client.concurrency) as pool:
        for (job_key, list_name), keys in zip(reads, pool.map(read, reads)):
            state.assignments.setdefault(job_key, {})[list_name] = keys
