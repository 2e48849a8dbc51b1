"""--only KIND[:GLOB]: a plan limited to part of the account.

A pure function over a finished plan, so the diff stays whole: the changes outside the scopes are
dropped (nothing outside is changed, nor pruned), and the plan says it is partial. A job's
assignment changes belong to the job. A change that needs an object only a dropped change would
create is kept with a warning (its apply would fail on it): the plan that includes it goes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from reconciler.model import KINDS, Key, Kind, format_key
from reconciler.plan import Action, ObjectRef, Plan, referred, touched_ref

_KIND_NAMES = {name: kind for kind in KINDS for name in (kind.section, kind.value)}
_CREATING = (Action.CREATE, Action.REACTIVATE)


@dataclass(frozen=True)
class Scope:
    kind: Kind
    pattern: str = ""  # a glob over the key as written (jobs: CLIENT/NUMBER); "" for every object

    def __str__(self) -> str:
        return self.kind.section + (f":{self.pattern}" if self.pattern else "")

    def covers(self, kind: Kind, key: Key) -> bool:
        if kind is not self.kind:
            return False
        if not self.pattern:
            return True
        text, pattern = format_key(key), self.pattern
        if kind is Kind.USER:  # emails compare case-insensitively everywhere else too
            text, pattern = text.lower(), pattern.lower()
        return fnmatchcase(text, pattern)


def parse_scope(text: str) -> Scope:
    """`jobs`, `jobs:ACME/*`, `users:*@example.com`; ValueError says what is wrong."""
    name, _, pattern = text.strip().partition(":")
    kind = _KIND_NAMES.get(name.strip().lower())
    if kind is None:
        raise ValueError(f"{name!r} is not a kind; use one of {', '.join(k.section for k in KINDS)}, "
                         "optionally with :GLOB (jobs:ACME/*)")
    if any(ord(c) < 32 or ord(c) == 127 for c in pattern):
        raise ValueError("the pattern holds a control character")
    return Scope(kind, pattern)


def limit(plan: Plan, scopes: Sequence[Scope]) -> Plan:
    """The part of `plan` the scopes cover; the whole plan when there are none."""
    if not scopes:
        return plan
    kept = tuple(c for c in plan.changes if any(s.covers(c.kind, c.key) for s in scopes))
    dropped_creates = {(c.kind, c.key) for c in plan.changes if c.action in _CREATING and c.target is None} - {
        (c.kind, c.key) for c in kept}
    needing: dict[ObjectRef, int] = {}
    for change in kept:
        for ref in change.needs():
            if ref in dropped_creates:
                needing[ref] = needing.get(ref, 0) + 1
    warnings = list(plan.warnings) + [
        f"{count} change(s) in this partial plan need {kind.value} {format_key(key)}, which only a change it leaves "
        "out creates; apply a plan that includes it first" for (kind, key), count in sorted(needing.items())]
    touched = {touched_ref(c) for c in kept}
    refs = referred(kept)
    kinds_in_scope = {s.kind for s in scopes}
    return replace(
        plan, changes=kept, warnings=tuple(dict.fromkeys(warnings)),
        kinds={kind: header for kind, header in plan.kinds.items() if kind in kinds_in_scope},
        fingerprints={ref: value for ref, value in plan.fingerprints.items() if ref in touched},
        ids={ref: value for ref, value in plan.ids.items() if ref in refs},
        partial=tuple(dict.fromkeys([*plan.partial, *(str(s) for s in scopes)])),
    )
