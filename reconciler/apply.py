"""Execute a plan through the ClickTime client: in dependency waves, each wave concurrently.

Waves follow the plan's order: clients, tasks and users; then jobs (which reference them); then
assignments; then deactivations and deletes, children before parents. Changes to one object stay
in order within their wave. A failed change does not stop the run: only the changes that need
its object are skipped, and the report lists applied, failed and skipped changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.clicktime.client import ClickTimeClient
from reconciler.errors import ApiError, ApplyError, ApplyOutcome, BackendError, ReconcilerError
from reconciler.journal import Journal
from reconciler.live import run_bounded
from reconciler.model import ASSIGNMENTS, FIELD_BY_YAML, KEY_FIELDS, KINDS, Key, Kind, LiveState, yaml_to_api_value
from reconciler.plan import Action, Change, ObjectRef, Plan

# on_event(event, change, detail): event is "applied", "failed" or "skipped"
EventSink = Callable[[str, Change, str], None]


class NotInAccount(ReconcilerError):
    """A change needs an object that neither the account nor this apply holds."""


def waves(changes: list[tuple[int, Change]]) -> list[list[list[tuple[int, Change]]]]:
    """Waves of groups; a group is one object's changes, applied in order."""
    by_wave: dict[int, dict[tuple[Any, ...], list[tuple[int, Change]]]] = {}
    for index, change in changes:
        group = (change.kind, change.key, change.list_name, change.target)
        by_wave.setdefault(change.wave, {}).setdefault(group, []).append((index, change))
    return [list(by_wave[w].values()) for w in sorted(by_wave)]


class Applier:
    def __init__(self, client: ClickTimeClient, live: LiveState, on_event: EventSink = lambda *_: None,
                 journal: Journal | None = None, resume: dict[int, str] | None = None,
                 known_ids: Mapping[ObjectRef, str] | None = None, stop: threading.Event | None = None) -> None:
        """`resume`: a journal's last event per change index; done changes are not repeated and
        changes that were in flight are verified before they are sent again. `known_ids`: a saved
        plan's IDs of the objects it refers to but did not re-read."""
        self.client = client
        self.live = live
        self.on_event = on_event
        self.journal = journal
        self.resume = resume or {}
        self.ids: dict[Kind, dict[Key, str]] = {
            kind: {key: obj.id for key, obj in live.objects[kind].items()} for kind in KINDS
        }
        for (kind, key), known in (known_ids or {}).items():
            self.ids[kind].setdefault(key, known)
        self.outcome = ApplyOutcome()
        self.stop = stop or threading.Event()  # set: start nothing new (Ctrl-C); writes in flight finish
        self._lock = threading.Lock()
        self._missing: set[ObjectRef] = set()  # creates that failed or were skipped
        self._still_there: set[ObjectRef] = set()  # deletes that failed or were skipped

    def apply(self, plan: Plan) -> ApplyOutcome:
        outcome = self.outcome = ApplyOutcome()
        todo = [(i, c) for i, c in enumerate(plan.changes) if self.resume.get(i) != "done"]
        job_deletes = {c.key for _, c in todo if c.kind is Kind.JOB and c.action is Action.DELETE}

        def blocked(change: Change) -> str | None:
            for ref in change.needs():
                if ref in self._missing:
                    return f"needs {ref[0].value} {'/'.join(ref[1])}, which was not created"
            if change.kind is Kind.CLIENT and change.action is Action.DELETE:
                for job in sorted(job_deletes):
                    if job[0] == change.key[0] and (Kind.JOB, job) in self._still_there:
                        return f"its job {'/'.join(job)} was not deleted"
            return None

        def record(event: str, index: int, change: Change, detail: str = "") -> None:
            with self._lock:
                if event == "applied":
                    outcome.applied.append(change.label)
                elif event == "failed":
                    outcome.failed.append((change.label, detail))
                else:
                    outcome.skipped.append((change.label, detail))
                if event != "applied" and change.target is None:
                    if change.action is Action.CREATE:
                        self._missing.add((change.kind, change.key))
                    elif change.action is Action.DELETE:
                        self._still_there.add((change.kind, change.key))
                self.on_event(event, change, detail)
            if self.journal:
                self.journal.change({"applied": "done"}.get(event, event), index, change, detail or None)

        def run_group(group: list[tuple[int, Change]]) -> None:
            for position, (index, change) in enumerate(group):
                if self.stop.is_set():
                    return  # not journalled: `apply --resume` does it
                reason = blocked(change)
                if reason is not None:
                    for later_index, later in group[position:]:
                        record("skipped", later_index, later, reason)
                    return
                if self.journal:
                    self.journal.change("intent", index, change)
                try:
                    self._apply_one(change, verify=self.resume.get(index) in ("intent", "failed"))
                except (BackendError, NotInAccount) as error:
                    record("failed", index, change, describe(error))
                    for later_index, later in group[position + 1:]:
                        record("skipped", later_index, later, "an earlier change to it failed")
                    return
                record("applied", index, change)

        for wave in waves(todo):
            if self.stop.is_set():
                break
            run_bounded(run_group, wave, self.client.concurrency, self.stop)
        if outcome.failed:
            first, detail = outcome.failed[0]
            raise ApplyError(f"{len(outcome.failed)} change(s) failed; first: {first}: {detail}", outcome)
        return outcome

    def _id(self, kind: Kind, key: Key) -> str:
        with self._lock:
            found = self.ids[kind].get(key)
        if found is None:
            raise NotInAccount(f"{kind.value} '{'/'.join(key)}' does not exist in the account")
        return found

    def _apply_one(self, change: Change, verify: bool = False) -> None:
        """Send one change. `verify`: it may already have happened (resume), so check first."""
        kind = change.kind
        if change.action is Action.CREATE:
            if verify and self.ids[kind].get(change.key):
                return  # created by the interrupted run: the live read found it
            body = {**self._key_body(kind, change.key), **self._fields_body(change)}
            created = self.client.create(kind.collection, body)
            with self._lock:
                self.ids[kind][change.key] = created["ID"]
        elif change.action in (Action.UPDATE, Action.REACTIVATE, Action.DEACTIVATE):
            self.client.update(kind.collection, self._id(kind, change.key), self._fields_body(change))
        elif change.action is Action.DELETE:
            if verify and not self.ids[kind].get(change.key):
                return
            self.client.delete(kind.collection, self._id(kind, change.key))
        elif change.action in (Action.ASSIGN, Action.UNASSIGN):
            assert change.list_name and change.target is not None
            target_kind, sub = ASSIGNMENTS[change.list_name]
            job_id, target_id = self._id(Kind.JOB, change.key), self._id(target_kind, change.target)
            if verify and (target_id in self.client.assigned_ids(job_id, sub)) == (change.action is Action.ASSIGN):
                return
            if change.action is Action.ASSIGN:
                self.client.assign(job_id, sub, target_id)
            else:
                self.client.unassign(job_id, sub, target_id)


    def _key_body(self, kind: Kind, key: Key) -> dict[str, Any]:
        if kind is Kind.JOB:
            return {"ClientID": self._id(Kind.CLIENT, key[:1]), "JobNumber": key[1]}
        return {KEY_FIELDS[kind][0]: key[0]}

    def _fields_body(self, change: Change) -> dict[str, Any]:
        body: dict[str, Any] = {}
        live = self.live.objects[change.kind].get(change.key)
        for name, field_change in change.fields.items():
            spec = FIELD_BY_YAML[change.kind][name]
            value = yaml_to_api_value(spec, field_change.new, self._id)
            if spec.api == "CustomFields" and live is not None:
                # Send the whole map: whether ClickTime merges a partial one is not documented.
                value = {**(live.record.get("CustomFields") or {}), **value}
            body[spec.api] = value
        return body


def describe(error: BaseException) -> str:
    if isinstance(error, ApiError):
        hint = ""
        if error.status in (400, 409) and error.method == "DELETE" and any(
                "history" in m or "time entries" in m for m in error.messages):
            hint = " (it has history: deactivate it instead with active: false)"
        return f"{'; '.join(error.messages)}{hint} (HTTP {error.status} from {error.method} {error.path})"
    return str(error)
