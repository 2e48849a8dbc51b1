"""(desired, settings, live) -> Plan. Pure: no I/O, no clock. ClickTime's rules live in rules.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler.config.desired import Configuration
from reconciler.errors import ConfigError, Problem
from reconciler.model import (
    FIELD_BY_YAML,
    KINDS,
    DesiredObject,
    FieldType,
    Key,
    Kind,
    LiveObject,
    LiveState,
    format_key,
    values_equal,
)
from reconciler.perf import without_gc
from reconciler.plan import (
    Action,
    Change,
    FieldChange,
    KindHeader,
    Plan,
    ordered,
    referenced_ids,
    touched_fingerprints,
)
from reconciler.rules import ADMIN_NOTE, SEEDED_TASKS_NOTE, check_against_live, exempt_from_prune

REQUIRED_ON_CREATE = {Kind.CLIENT: ("name",), Kind.TASK: ("name",), Kind.USER: ("name",), Kind.JOB: ("name",),
                      Kind.DIVISION: (), Kind.EMPLOYMENT_TYPE: ()}


@without_gc
def build_plan(config: Configuration, live: LiveState, backend: str) -> Plan:
    """The changes that make `live` match `config`, in the order they must run.

    Raises ConfigError for what only the live account reveals (undeclared references that do not
    exist, names taken by other objects, values the account's settings refuse)."""
    desired = config.desired
    settings = config.settings
    problems: list[Problem] = []
    warnings: list[str] = []
    notes = check_against_live(config, live, problems)
    changes: list[Change] = []
    headers: dict[Kind, KindHeader] = {}

    for kind in KINDS:
        ignored = settings.ignore_fields.get(kind, frozenset())
        skipped_before = len(warnings)
        for key in sorted(desired.objects[kind]):
            want = _without_fields(desired.objects[kind][key], ignored)
            have = live.objects[kind].get(key)
            if have is not None and settings.protected(kind, key):
                held = [c.label for c in _object_changes(want, have, []) + _activation_change(want, have)]
                held += [c.label for c in _assignment_changes(want, live)] if kind is Kind.JOB else []
                held += [f"delete {kind.value} {format_key(key)}"] if want.absent else []
                warnings += [f"protected, not changed: {label}" for label in held]
                continue
            if want.absent:
                if have is not None:
                    changes.append(Change(Action.DELETE, kind, key, _identity_fields(have)))
                continue
            if have is None:
                missing = [f for f in REQUIRED_ON_CREATE[kind] if not want.fields.get(f)]
                if missing:
                    problems.append(Problem(want.where, f"{kind.value} '{format_key(key)}' does not exist in the "
                                                        f"account; creating it needs {', '.join(missing)}"))
                    continue
                fields = {n: FieldChange(None, v) for n, v in sorted(want.fields.items())}
                if ADMIN_NOTE in notes.get((kind, key), ()):
                    fields["security_level"] = FieldChange(None, "manager")
                changes.append(Change(Action.CREATE, kind, key, fields, notes=notes.get((kind, key), ())))
            else:
                changes += _object_changes(want, have, warnings) + _activation_change(want, have)
            if kind is Kind.JOB:
                changes += _assignment_changes(want, live)

        policy = settings.prune[kind]
        left_alone = 0
        for key, have in sorted(live.objects[kind].items()):
            if key in desired.objects[kind]:
                continue
            if (policy == "deactivate" and have.active and not exempt_from_prune(kind, have, live)
                    and not settings.protected(kind, key)):
                why = ("not in the configuration (prune: deactivate)",)
                changes.append(Change(Action.DEACTIVATE, kind, key, {"active": FieldChange(True, False)},
                                      notes=(*why, SEEDED_TASKS_NOTE) if kind is Kind.TASK else why))
            else:
                left_alone += 1
        left_alone += live.unkeyed.get(kind, 0)
        active = sum(obj.active for obj in live.objects[kind].values())
        headers[kind] = KindHeader(policy, len(live.objects[kind]) + live.unkeyed.get(kind, 0), left_alone,
                                   settings.protect.get(kind, ()), len(warnings) - skipped_before,
                                   tuple(sorted(ignored)), active)

    changes = _explain_client_cascades(changes, desired.objects[Kind.JOB], live, problems)
    if problems:
        raise ConfigError(problems)
    final = ordered(changes)
    return Plan(final, backend, headers, tuple(warnings), fingerprints=touched_fingerprints(final, live),
                config_checksum=config.checksum, ids=referenced_ids(final, live))


def _without_fields(want: DesiredObject, ignored: frozenset[str]) -> DesiredObject:
    """The object as far as this tool owns it: `ignore_fields` belong to other tools."""
    if not ignored or not (ignored & (set(want.fields) | set(want.assignments))):
        return want
    return replace(want, fields={n: v for n, v in want.fields.items() if n not in ignored},
                   assignments={n: v for n, v in want.assignments.items() if n not in ignored})


def _identity_fields(have: LiveObject) -> dict[str, FieldChange]:
    name = have.fields.get("name")
    return {"name": FieldChange(name, None)} if name is not None else {}


def _object_changes(want: DesiredObject, have: LiveObject, warnings: list[str]) -> list[Change]:
    fields: dict[str, FieldChange] = {}
    for name, value in sorted(want.fields.items()):
        if name == "active":
            continue
        spec = FIELD_BY_YAML[want.kind][name]
        if name not in have.fields:
            warnings.append(f"{want.kind.value} '{format_key(want.key)}': the API does not return {name} "
                            f"({spec.api}) for this account, so it is not compared")
            continue
        current = have.fields.get(name)
        if values_equal(spec, value, current):
            continue
        if spec.create_only:
            warnings.append(f"{want.kind.value} '{format_key(want.key)}': {name} is {current!r} in the account but "
                            f"{value!r} in the configuration; ClickTime only sets it when the user is created, so "
                            "it is not changed (change it in ClickTime's UI)")
            continue
        if spec.type is FieldType.MAP:
            current_map = current or {}
            changed = {k: v for k, v in value.items() if current_map.get(k) != v}
            fields[name] = FieldChange({k: current_map.get(k) for k in changed}, changed)
        else:
            fields[name] = FieldChange(current, value)
    return [Change(Action.UPDATE, want.kind, want.key, fields)] if fields else []


def _activation_change(want: DesiredObject, have: LiveObject) -> list[Change]:
    active = want.fields.get("active")
    if active is None or active == have.active:
        return []
    action = Action.REACTIVATE if active else Action.DEACTIVATE
    return [Change(action, want.kind, want.key, {"active": FieldChange(have.active, active)})]


def _assignment_changes(want: DesiredObject, live: LiveState) -> list[Change]:
    changes = []
    current = live.assignments.get(want.key, {})
    for list_name, targets in sorted(want.assignments.items()):
        have = current.get(list_name, frozenset())
        for target in sorted(targets - have):
            changes.append(Change(Action.ASSIGN, Kind.JOB, want.key, {list_name: FieldChange(None, format_key(target))},
                                  list_name=list_name, target=target))
        for target in sorted(have - targets):
            removed = {list_name: FieldChange(format_key(target), None)}
            changes.append(Change(Action.UNASSIGN, Kind.JOB, want.key, removed,
                                  list_name=list_name, target=target))
    return changes


def _explain_client_cascades(changes: list[Change], desired_jobs: Mapping[Key, DesiredObject], live: LiveState,
                             problems: list[Problem]) -> list[Change]:
    """Deactivating a client deactivates its jobs; reactivating it does not reactivate them."""
    jobs_by_client: dict[str, list[LiveObject]] = {}
    for job in live.objects[Kind.JOB].values():
        jobs_by_client.setdefault(job.key[0], []).append(job)
    deactivated_jobs = {c.key for c in changes if c.kind is Kind.JOB and c.action is Action.DEACTIVATE}
    reactivated_jobs = {c.key for c in changes
                        if c.kind is Kind.JOB and c.action in (Action.REACTIVATE, Action.CREATE)}
    explained = []
    for change in changes:
        if change.kind is not Kind.CLIENT or change.action not in (Action.DEACTIVATE, Action.REACTIVATE):
            explained.append(change)
            continue
        jobs = sorted(jobs_by_client.get(change.key[0], []), key=lambda j: j.key)
        if change.action is Action.DEACTIVATE:
            cascaded = [format_key(j.key) for j in jobs if j.active and j.key not in deactivated_jobs]
            for job in jobs:
                want = desired_jobs.get(job.key)
                if want is not None and want.fields.get("active") is True:
                    problems.append(Problem(want.field_locations["active"],
                                            f"job '{format_key(job.key)}' is declared active, but its client "
                                            f"is deactivated by this plan, which deactivates its jobs"))
            note = f"also deactivates its {len(cascaded)} active job(s): {', '.join(cascaded)}" if cascaded else ""
            cascade = len(cascaded)
        else:
            staying = [format_key(j.key) for j in jobs if not j.active and j.key not in reactivated_jobs]
            note = (f"its {len(staying)} inactive job(s) stay inactive (ClickTime does not reactivate them): "
                    f"{', '.join(staying)}") if staying else ""
            cascade = 0
        explained.append(replace(change, notes=(*change.notes, note), cascade=cascade) if note else change)
    return explained
