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
from reconciler.errors import ApiError, ApplyError, ApplyOutcome, BackendError
from reconciler.journal import Journal
from reconciler.live import run_bounded
from reconciler.model import (
    ASSIGNMENTS,
    FIELD_BY_YAML,
    KEY_FIELDS,
    KINDS,
    Key,
    Kind,
    LiveState,
    parse_key,
    ref_key,
    yaml_to_api_value,
)
from reconciler.plan import Change, Plan

TEARDOWN = ("deactivate", "delete")
ObjectRef = tuple[Kind, Key]
# on_event(event, change, detail): event is "applied", "failed" or "skipped"
EventSink = Callable[[str, Change, str], None]


SETUP_WAVE = {Kind.DIVISION: 0, Kind.EMPLOYMENT_TYPE: 0, Kind.CLIENT: 1, Kind.TASK: 1, Kind.USER: 1, Kind.JOB: 2}
TEARDOWN_WAVE = {Kind.JOB: 4, Kind.USER: 5, Kind.TASK: 5, Kind.CLIENT: 6, Kind.DIVISION: 7, Kind.EMPLOYMENT_TYPE: 7}


def wave_of(change: Change) -> int:
    if change.target is not None:
        return 3
    if change.action in TEARDOWN:
        return TEARDOWN_WAVE[change.kind]
    return SETUP_WAVE[change.kind]


def waves(changes: list[tuple[int, Change]]) -> list[list[list[tuple[int, Change]]]]:
    """Waves of groups; a group is one object's changes, applied in order."""
    by_wave: dict[int, dict[tuple[Any, ...], list[tuple[int, Change]]]] = {}
    for index, change in changes:
        group = (change.kind, change.key, change.list_name, change.target)
        by_wave.setdefault(wave_of(change), {}).setdefault(group, []).append((index, change))
    return [list(by_wave[w].values()) for w in sorted(by_wave)]


def needs(change: Change) -> list[ObjectRef]:
    """Objects that must exist for this change to make sense."""
    if change.target is not None:
        target_kind = ASSIGNMENTS[change.list_name or ""][0]
        return [(Kind.JOB, change.key), (target_kind, change.target)]
    if change.action in TEARDOWN:
        return []
    refs: list[ObjectRef] = [(Kind.CLIENT, change.key[:1])] if change.kind is Kind.JOB else []
    for name, field in change.fields.items():
        spec = FIELD_BY_YAML[change.kind][name]
        if spec.ref is not None and field.new:
            refs.append((spec.ref, ref_key(spec.ref, field.new)))
    return refs


class Applier:
    def __init__(self, client: ClickTimeClient, live: LiveState, on_event: EventSink = lambda *_: None,
                 journal: Journal | None = None, resume: dict[int, str] | None = None,
                 known_ids: Mapping[str, str] | None = None) -> None:
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
        for ref, known in (known_ids or {}).items():
            kind_text, _, key_text = ref.partition(":")
            kind = Kind(kind_text)
            self.ids[kind].setdefault(parse_key(kind, key_text), known)
        self._lock = threading.Lock()
        self._missing: set[ObjectRef] = set()  # creates that failed or were skipped
        self._still_there: set[ObjectRef] = set()  # deletes that failed or were skipped

    def apply(self, plan: Plan) -> ApplyOutcome:
        outcome = ApplyOutcome()
        todo = [(i, c) for i, c in enumerate(plan.changes) if self.resume.get(i) != "done"]
        job_deletes = {c.key for _, c in todo if c.kind is Kind.JOB and c.action == "delete"}

        def blocked(change: Change) -> str | None:
            for ref in needs(change):
                if ref in self._missing:
                    return f"needs {ref[0].value} {'/'.join(ref[1])}, which was not created"
            if change.kind is Kind.CLIENT and change.action == "delete":
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
                    if change.action == "create":
                        self._missing.add((change.kind, change.key))
                    elif change.action == "delete":
                        self._still_there.add((change.kind, change.key))
                self.on_event(event, change, detail)
            if self.journal:
                self.journal.change({"applied": "done"}.get(event, event), index, change, detail or None)

        def run_group(group: list[tuple[int, Change]]) -> None:
            for position, (index, change) in enumerate(group):
                reason = blocked(change)
                if reason is not None:
                    for later_index, later in group[position:]:
                        record("skipped", later_index, later, reason)
                    return
                if self.journal:
                    self.journal.change("intent", index, change)
                try:
                    self._apply_one(change, verify=self.resume.get(index) in ("intent", "failed"))
                except (BackendError, KeyError) as error:
                    record("failed", index, change, describe(error))
                    for later_index, later in group[position + 1:]:
                        record("skipped", later_index, later, "an earlier change to it failed")
                    return
                record("applied", index, change)

        for wave in waves(todo):
            run_bounded(run_group, wave, self.client.concurrency)
        if outcome.failed:
            first, detail = outcome.failed[0]
            raise ApplyError(f"{len(outcome.failed)} change(s) failed; first: {first}: {detail}", outcome)
        return outcome

    def _id(self, kind: Kind, key: Key) -> str:
        with self._lock:
            found = self.ids[kind].get(key)
        if found is None:
            raise KeyError(f"{kind.value} '{'/'.join(key)}' does not exist in the account")
        return found

    def _apply_one(self, change: Change, verify: bool = False) -> None:
        """Send one change. `verify`: it may already have happened (resume), so check first."""
        kind = change.kind
        if change.action == "create":
            if verify and self.ids[kind].get(change.key):
                return  # created by the interrupted run: the live read found it
            body = {**self._key_body(kind, change.key), **self._fields_body(change)}
            created = self.client.create(kind.collection, body)
            with self._lock:
                self.ids[kind][change.key] = created["ID"]
        elif change.action in ("update", "reactivate", "deactivate"):
            self.client.update(kind.collection, self._id(kind, change.key), self._fields_body(change))
        elif change.action == "delete":
            if verify and not self.ids[kind].get(change.key):
                return
            self.client.delete(kind.collection, self._id(kind, change.key))
        elif change.action in ("assign", "unassign"):
            assert change.list_name and change.target is not None
            target_kind, sub = ASSIGNMENTS[change.list_name]
            job_id, target_id = self._id(Kind.JOB, change.key), self._id(target_kind, change.target)
            if verify and (target_id in self.client.assigned_ids(job_id, sub)) == (change.action == "assign"):
                return
            if change.action == "assign":
                self.client.assign(job_id, sub, target_id)
            else:
                self.client.unassign(job_id, sub, target_id)
        else:  # pragma: no cover - Plan.from_json only builds known actions
            raise ValueError(f"unknown action {change.action}")

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
    if isinstance(error, KeyError):
        return str(error.args[0]) if error.args else str(error)
    return str(error)
