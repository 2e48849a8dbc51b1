"""Execute a plan through the ClickTime client: in dependency waves, each wave concurrently.

Waves follow the plan's order: clients, tasks and users; then jobs (which reference them); then
assignments; then deactivations and deletes, children before parents. Changes to one object stay
in order within their wave. A failed change does not stop the run: only the changes that need
its object are skipped, and the report lists applied, failed and skipped changes.

Assignments are grouped per job and list: when more than one member changes, the whole set is
written with one PUT. The first PUT of each kind (and the first that removes members) is read
back; if the account did not leave exactly that set, single assigns and unassigns repair it and
do the rest of the run. The plan still lists, and the journal still records, every change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.clicktime.client import ClickTimeClient
from reconciler.errors import ApiError, ApplyError, ApplyOutcome, BackendError, ReconcilerError, ServiceDown
from reconciler.journal import Journal
from reconciler.live import run_bounded
from reconciler.model import ASSIGNMENTS, FIELD_BY_YAML, KEY_FIELDS, KINDS, Key, Kind, LiveState, yaml_to_api_value
from reconciler.plan import Action, Change, ObjectRef, Plan

# on_event(event, change, detail): event is "applied", "failed" or "skipped"; "note" (detail: the
# note) says how the run writes differently from here on, and is not an outcome of the change
EventSink = Callable[[str, Change, str], None]
Indexed = tuple[int, Change]
# What a PUT of a whole set has shown this run, per assignment kind.
REPLACES, REMOVES = "replaces", "removes"


class NotInAccount(ReconcilerError):
    """A change needs an object that neither the account nor this apply holds."""


def waves(changes: list[tuple[int, Change]]) -> list[list[list[tuple[int, Change]]]]:
    """Waves of groups; a group is one object's changes, applied in order, or one job's changes
    to one assignment list."""
    by_wave: dict[int, dict[tuple[Any, ...], list[tuple[int, Change]]]] = {}
    for index, change in changes:
        # One job's changes to one assignment list form a group: they may be one PUT.
        group = (change.kind, change.key, change.list_name, None if change.list_name else change.target)
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
        self._created: set[ObjectRef] = set()  # objects this run created (a new job has no assignments)
        # Whole-set writes per assignment kind: off once the account is seen not to honour them;
        # `_shown` holds what PUT has been read back doing; the gate makes the first PUTs wait for it.
        self._put_off: set[str] = set()
        self._shown: dict[str, set[str]] = {sub: set() for _, sub in ASSIGNMENTS.values()}
        self._put_gate = {sub: threading.Lock() for _, sub in ASSIGNMENTS.values()}
        self.notes: list[str] = []

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
            if group[0][1].target is not None:
                self._assignments(group, blocked, record)
                return
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
                    if isinstance(error, ServiceDown):
                        self.stop.set()  # the rest would fail the same way: stop, resumable
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
                self._created.add((kind, change.key))
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

    # -- assignments: one job's list at a time ----------------------------------------------
    def _assignments(self, group: list[Indexed], blocked: Callable[[Change], str | None],
                     record: Callable[..., None]) -> None:
        """One job's changes to one list: those already true (on resume) are done; more than one
        left becomes one PUT of the whole set while the account honours it; else single writes,
        each on its own (a failed assign does not stop the others)."""
        ready: list[Indexed] = []
        for index, change in group:
            reason = blocked(change)
            if reason is not None:
                record("skipped", index, change, reason)
            else:
                ready.append((index, change))
        if not ready or self.stop.is_set():
            return
        first = ready[0][1]
        assert first.list_name is not None
        sub = ASSIGNMENTS[first.list_name][1]
        try:
            job_id = self._id(Kind.JOB, first.key)
            current = self._current_set(first, job_id, verify=any(self.resume.get(i) in ("intent", "failed")
                                                                   for i, _ in ready))
        except (BackendError, NotInAccount) as error:
            for index, change in ready:
                record("failed", index, change, describe(error))
            return
        pending: list[Indexed] = []
        for index, change in ready:
            try:
                done = self._holds(change, current)
            except NotInAccount as error:
                record("failed", index, change, describe(error))
                continue
            if done:
                record("applied", index, change)  # done before an interruption: the read shows it
            else:
                pending.append((index, change))
        if len(pending) > 1 and sub not in self._put_off and self._put_whole_set(job_id, sub, current, pending,
                                                                                 record):
            return
        for index, change in pending:
            if self.stop.is_set():
                return
            self._single(index, change, record)

    def _single(self, index: int, change: Change, record: Callable[..., None]) -> None:
        if self.journal:
            self.journal.change("intent", index, change)
        try:
            self._apply_one(change)
        except (BackendError, NotInAccount) as error:
            record("failed", index, change, describe(error))
            return
        record("applied", index, change)

    def _current_set(self, change: Change, job_id: str, verify: bool) -> frozenset[str]:
        """The list as it stands: read when resuming (it may hold part of an interrupted write) or
        when it was not read with the plan; a job this run created starts empty."""
        assert change.list_name is not None
        if not verify:
            known = self.live.assignment_ids.get(change.key, {}).get(change.list_name)
            if known is not None:
                return frozenset(known)
            with self._lock:
                if (Kind.JOB, change.key) in self._created:
                    return frozenset()
        return frozenset(self.client.assigned_ids(job_id, ASSIGNMENTS[change.list_name][1]))

    def _holds(self, change: Change, ids: frozenset[str]) -> bool:
        """Whether the change is already true of the set `ids`."""
        assert change.list_name is not None and change.target is not None
        target_id = self._id(ASSIGNMENTS[change.list_name][0], change.target)
        return (target_id in ids) == (change.action is Action.ASSIGN)

    def _put_whole_set(self, job_id: str, sub: str, current: frozenset[str], pending: list[Indexed],
                       record: Callable[..., None]) -> bool:
        """Write the set the pending changes make of `current` with one PUT. False: nothing was
        sent (PUT is off for this kind), the caller writes the changes singly."""
        wanted = self._wanted_set(current, pending)
        shows = {REPLACES} | ({REMOVES} if current - wanted else set())
        with self._lock:
            unproven = bool(shows - self._shown[sub])
        if not unproven:
            return self._put(job_id, sub, wanted, shows, pending, record, read_back=False)
        with self._put_gate[sub]:  # the first PUTs of a kind are read back before others are trusted
            with self._lock:
                unproven = bool(shows - self._shown[sub])
            if sub in self._put_off:
                return False
            return self._put(job_id, sub, wanted, shows, pending, record, read_back=unproven)

    def _wanted_set(self, current: frozenset[str], pending: list[Indexed]) -> frozenset[str]:
        wanted = set(current)
        for _, change in pending:
            assert change.list_name is not None and change.target is not None
            target_id = self._id(ASSIGNMENTS[change.list_name][0], change.target)
            if change.action is Action.ASSIGN:
                wanted.add(target_id)
            else:
                wanted.discard(target_id)
        return frozenset(wanted)

    def _put(self, job_id: str, sub: str, wanted: frozenset[str], shows: set[str], pending: list[Indexed],
             record: Callable[..., None], read_back: bool) -> bool:
        """One PUT covering `pending`, read back when `read_back` or when its answer is not the set
        sent. False: the account refused it, and the caller writes the changes singly."""
        change = pending[0][1]
        if self.stop.is_set():
            return True  # nothing sent, nothing journalled: `apply --resume` does it
        if self.journal:
            for index, covered in pending:  # every covered change: resume reads the set to settle them
                self.journal.change("intent", index, covered)
        try:
            answer = frozenset(self.client.put_assigned(job_id, sub, wanted))
        except ApiError as error:
            if read_back:  # the account does not take whole sets: single writes from here on
                self._stop_putting(change, sub, f"PUT /Jobs/{{id}}/{sub} was refused ({describe(error)})")
            return False  # single writes say precisely which change the account refuses
        except BackendError as error:  # no answer even after retries: resume reads the set to settle it
            for index, covered in pending:
                record("failed", index, covered, describe(error))
            return True
        try:
            actual = frozenset(self.client.assigned_ids(job_id, sub)) if read_back or answer != wanted else answer
        except BackendError as error:
            for index, covered in pending:
                record("failed", index, covered, f"written with one PUT, not read back: {describe(error)}")
            return True
        if actual != wanted:
            self._stop_putting(change, sub, f"PUT /Jobs/{{id}}/{sub} did not leave the set it was sent (job "
                                            f"{'/'.join(change.key)}: {len(wanted - actual)} missing, "
                                            f"{len(actual - wanted)} not removed); repaired with single writes")
            self._repair(job_id, sub, wanted, actual, pending, record)
            return True
        if read_back:
            with self._lock:
                self._shown[sub] |= shows
        for index, covered in pending:
            record("applied", index, covered)
        return True

    def _stop_putting(self, change: Change, sub: str, why: str) -> None:
        note = f"{why}; job {sub.lower()} are written with single assigns and unassigns for the rest of this run"
        with self._lock:
            if sub in self._put_off:
                return
            self._put_off.add(sub)
            self.notes.append(note)
            self.on_event("note", change, note)

    def _repair(self, job_id: str, sub: str, wanted: frozenset[str], actual: frozenset[str],
                pending: list[Indexed], record: Callable[..., None]) -> None:
        """Single writes until the set is `wanted`: the plan's changes, and undoing anything else
        the PUT did (members it dropped or added that no change names)."""
        named: set[str] = set()
        for index, change in pending:
            assert change.list_name is not None and change.target is not None
            target_id = self._id(ASSIGNMENTS[change.list_name][0], change.target)
            named.add(target_id)
            try:
                if change.action is Action.ASSIGN and target_id not in actual:
                    self.client.assign(job_id, sub, target_id)
                elif change.action is Action.UNASSIGN and target_id in actual:
                    self.client.unassign(job_id, sub, target_id)
            except BackendError as error:
                record("failed", index, change, describe(error))
                continue
            record("applied", index, change)
        try:
            for target_id in sorted((wanted - actual) - named):
                self.client.assign(job_id, sub, target_id)
            for target_id in sorted((actual - wanted) - named):
                self.client.unassign(job_id, sub, target_id)
        except BackendError as error:  # the next plan shows what is left
            with self._lock:
                self.notes.append(f"repairing job {'/'.join(pending[0][1].key)}'s {sub.lower()}: {describe(error)}")

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
