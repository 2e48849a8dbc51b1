"""The plan: ordered changes plus what a reviewer must know. Pure data, frozen once built.

The execution order lives here, once: objects are created and changed parents first (what a kind
references comes before it), assignments follow, and deactivations and deletes run children first.
Saving, loading and verifying a plan file is planfile.py's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.model import ASSIGNMENTS, FIELD_BY_YAML, KINDS, Key, Kind, LiveState, format_key, ref_key


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REACTIVATE = "reactivate"
    DEACTIVATE = "deactivate"
    DELETE = "delete"
    ASSIGN = "assign"
    UNASSIGN = "unassign"

    @property
    def destructive(self) -> bool:
        return self in (Action.DEACTIVATE, Action.DELETE, Action.UNASSIGN)

    @property
    def teardown(self) -> bool:
        """Removes an object (as opposed to an assignment): runs children first."""
        return self in (Action.DEACTIVATE, Action.DELETE)


ObjectRef = tuple[Kind, Key]

# Setup (create, reactivate, update) runs in KINDS order, wave by wave: divisions and employment
# types, then clients, tasks and users, then jobs (which reference them); assignments next; then
# teardown children first: jobs, then users and tasks, then clients, then divisions and types.
SETUP_WAVE = {Kind.DIVISION: 0, Kind.EMPLOYMENT_TYPE: 0, Kind.CLIENT: 1, Kind.TASK: 1, Kind.USER: 1, Kind.JOB: 2}
ASSIGNMENT_WAVE = 3
TEARDOWN_WAVE = {Kind.JOB: 4, Kind.USER: 5, Kind.TASK: 5, Kind.CLIENT: 6, Kind.DIVISION: 7, Kind.EMPLOYMENT_TYPE: 7}
SETUP_RANK = {Action.REACTIVATE: 0, Action.CREATE: 1, Action.UPDATE: 2}
TEARDOWN_ORDER = (Kind.JOB, Kind.USER, Kind.TASK, Kind.CLIENT, Kind.DIVISION, Kind.EMPLOYMENT_TYPE)


@dataclass(frozen=True)
class FieldChange:
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    action: Action
    kind: Kind
    key: Key
    fields: Mapping[str, FieldChange] = field(default_factory=dict)
    # assign/unassign: which list and which object
    list_name: str | None = None
    target: Key | None = None
    notes: tuple[str, ...] = ()
    cascade: int = 0  # objects ClickTime changes along with this one (a client's jobs it deactivates)

    @property
    def label(self) -> str:
        text = f"{self.action} {self.kind.value} {format_key(self.key)}"
        if self.target is not None:
            text += f" {self.list_name[:-1] if self.list_name else ''} {format_key(self.target)}"
        return text

    @property
    def destructive(self) -> bool:
        return self.action.destructive

    @property
    def wave(self) -> int:
        if self.target is not None:
            return ASSIGNMENT_WAVE
        return TEARDOWN_WAVE[self.kind] if self.action.teardown else SETUP_WAVE[self.kind]

    def order_key(self) -> tuple[Any, ...]:
        """Where the change runs: by wave, then within a wave as the plan lists it."""
        if self.target is not None:
            return (ASSIGNMENT_WAVE, self.action is not Action.UNASSIGN, self.key, self.list_name, self.target)
        if self.action.teardown:
            return (self.wave, TEARDOWN_ORDER.index(self.kind), self.action is Action.DELETE, self.key)
        return (self.wave, KINDS.index(self.kind), SETUP_RANK[self.action], self.key)

    def needs(self) -> list[ObjectRef]:
        """Objects that must exist for this change to make sense."""
        if self.target is not None:
            target_kind = ASSIGNMENTS[self.list_name or ""][0]
            return [(Kind.JOB, self.key), (target_kind, self.target)]
        if self.action.teardown:
            return []
        refs: list[ObjectRef] = [(Kind.CLIENT, self.key[:1])] if self.kind is Kind.JOB else []
        for name, change in self.fields.items():
            spec = FIELD_BY_YAML[self.kind][name]
            if spec.ref is not None and change.new:
                refs.append((spec.ref, ref_key(spec.ref, change.new)))
        return refs


@dataclass(frozen=True)
class KindHeader:
    policy: str
    live: int
    left_alone: int
    protect: tuple[str, ...] = ()
    protected_skipped: int = 0  # changes the configuration asked for but `protect` held back
    ignore_fields: tuple[str, ...] = ()
    active: int = 0  # live objects that are active: the base of the guard rails' percentages


@dataclass(frozen=True)
class TouchedRef:
    """An object or assignment list a plan touches; `list_name` for assignment lists."""

    kind: Kind
    key: Key
    list_name: str | None = None


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    backend: str
    kinds: Mapping[Kind, KindHeader]
    warnings: tuple[str, ...] = ()
    # digests of what each touched object (or assignment list) looked like when planned
    fingerprints: Mapping[TouchedRef, str] = field(default_factory=dict)
    config_checksum: str = ""
    # live IDs of every object the plan touches or refers to
    ids: Mapping[ObjectRef, str] = field(default_factory=dict)
    partial: tuple[str, ...] = ()  # scopes (--only) the plan was limited to; empty: the whole account
    commit: str = ""  # the git commit the configuration was planned from (`plan --commit`); "" if not given

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> dict[str, int]:
        counts = {action.value: 0 for action in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        return counts


def ordered(changes: list[Change]) -> tuple[Change, ...]:
    return tuple(sorted(changes, key=Change.order_key))


def touched_ref(change: Change) -> TouchedRef:
    return TouchedRef(change.kind, change.key, change.list_name if change.target is not None else None)


def fingerprint(value: Any) -> str:
    """A short digest of a live record or assignment set; "absent" for what does not exist."""
    if value is None:
        return "absent"
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def touched_fingerprints(changes: tuple[Change, ...] | list[Change], live: LiveState) -> dict[TouchedRef, str]:
    prints: dict[TouchedRef, str] = {}
    for change in changes:
        ref = touched_ref(change)
        if ref.list_name:
            assigned = live.assignment_ids.get(change.key, {}).get(ref.list_name)
            value: Any = sorted(assigned) if assigned is not None else None
        else:
            obj = live.objects[change.kind].get(change.key)
            value = dict(obj.record) if obj else None
        prints[ref] = fingerprint(value)
    return prints


def referred(changes: tuple[Change, ...] | list[Change]) -> set[ObjectRef]:
    """Every object the changes touch or refer to: their own, what they need, a job's client."""
    refs: set[ObjectRef] = set()
    for change in changes:
        refs.add((change.kind, change.key))
        refs.update(change.needs())
        if change.kind is Kind.JOB:
            refs.add((Kind.CLIENT, change.key[:1]))
    return refs


def referenced_ids(changes: tuple[Change, ...] | list[Change], live: LiveState) -> dict[ObjectRef, str]:
    """IDs of every live object the changes touch or refer to, so a saved plan can be checked
    and applied by reading only those objects."""
    found = {}
    for kind, key in sorted(referred(changes)):
        obj = live.objects[kind].get(key)
        if obj is not None:
            found[(kind, key)] = obj.id
    return found
