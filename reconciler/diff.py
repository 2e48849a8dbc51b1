"""(desired, live, settings) -> Plan. Pure: no I/O. ClickTime's rules that shape a plan live here."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.apply import needs
from reconciler.clicktime import assumptions
from reconciler.config.loader import Configuration
from reconciler.errors import ConfigError, Problem
from reconciler.live import assignment_lists_allowed
from reconciler.model import (
    ASSIGNMENTS,
    FIELD_BY_YAML,
    KINDS,
    DesiredObject,
    FieldType,
    Key,
    Kind,
    LiveObject,
    LiveState,
    format_key,
    normalise_email,
    values_equal,
)
from reconciler.perf import without_gc
from reconciler.plan import Change, FieldChange, KindHeader, Plan, fingerprint, fingerprint_key

REQUIRED_ON_CREATE = {Kind.CLIENT: ("name",), Kind.TASK: ("name",), Kind.USER: ("name",), Kind.JOB: ("name",),
                      Kind.DIVISION: (), Kind.EMPLOYMENT_TYPE: ()}
DEFAULT_TASK_CODES = frozenset(code for code, _ in assumptions.DEFAULT_TASKS)
# Destructive changes run children first; everything else parents first.
TEARDOWN_ORDER = (Kind.JOB, Kind.USER, Kind.TASK, Kind.CLIENT, Kind.DIVISION, Kind.EMPLOYMENT_TYPE)


@without_gc
def build_plan(config: Configuration, live: LiveState, backend: str) -> Plan:
    """The changes that make `live` match `config`, in the order they must run.

    Raises ConfigError for what only the live account reveals (undeclared references that do not
    exist, names taken by other objects, assignment lists the company settings disable)."""
    desired = config.desired
    problems: list[Problem] = []
    warnings: list[str] = []
    _check_against_live(config, live, problems)

    setup: dict[Kind, list[Change]] = {k: [] for k in KINDS}
    teardown: dict[Kind, list[Change]] = {k: [] for k in KINDS}
    deletes: dict[Kind, list[Change]] = {k: [] for k in KINDS}
    assignment_changes: list[Change] = []
    headers: dict[Kind, KindHeader] = {}

    settings = config.settings
    for kind in KINDS:
        ignored = settings.ignore_fields.get(kind, frozenset())
        skipped_before = len(warnings)
        for key in sorted(desired.objects[kind]):
            want = _without_fields(desired.objects[kind][key], ignored)
            have = live.objects[kind].get(key)
            if have is not None and settings.protected(kind, key):
                held = [c.label for c in _object_changes(want, have, [], live) + _activation_change(want, have)]
                held += [c.label for c in _assignment_changes(want, live)] if kind is Kind.JOB else []
                held += [f"delete {kind.value} {format_key(key)}"] if want.absent else []
                warnings += [f"protected, not changed: {label}" for label in held]
                continue
            if want.absent:
                if have is not None:
                    deletes[kind].append(Change("delete", kind, key, _identity_fields(have)))
                continue
            if have is None:
                missing = [f for f in REQUIRED_ON_CREATE[kind] if not want.fields.get(f)]
                if missing:
                    problems.append(Problem(want.where, f"{kind.value} '{format_key(key)}' does not exist in the "
                                                        f"account; creating it needs {', '.join(missing)}"))
                    continue
                fields = {n: FieldChange(None, v) for n, v in sorted(want.fields.items())}
                setup[kind].append(Change("create", kind, key, fields))
            else:
                setup[kind].extend(_object_changes(want, have, warnings, live))
                teardown[kind].extend(c for c in _activation_change(want, have) if c.action == "deactivate")
                setup[kind][:0] = [c for c in _activation_change(want, have) if c.action == "reactivate"]
            if kind is Kind.JOB:
                assignment_changes.extend(_assignment_changes(want, live))

        policy = config.settings.prune[kind]
        left_alone = 0
        for key, have in sorted(live.objects[kind].items()):
            if key in desired.objects[kind]:
                continue
            if (policy == "deactivate" and have.active and not _exempt_from_prune(kind, have, live)
                    and not settings.protected(kind, key)):
                teardown[kind].append(Change("deactivate", kind, key, {"active": FieldChange(True, False)},
                                             notes=("not in the configuration (prune: deactivate)",)))
            else:
                left_alone += 1
        left_alone += live.unkeyed.get(kind, 0)
        headers[kind] = KindHeader(policy, len(live.objects[kind]) + live.unkeyed.get(kind, 0), left_alone,
                                   settings.protect.get(kind, ()), len(warnings) - skipped_before,
                                   tuple(sorted(ignored)))

    _explain_client_cascades(setup, teardown, desired.objects[Kind.JOB], live, problems)
    if problems:
        raise ConfigError(problems)

    ordered: list[Change] = []
    for kind in KINDS:
        ordered += sorted(setup[kind], key=_setup_rank)
    ordered += sorted(assignment_changes, key=lambda c: (c.action != "unassign", c.key, c.list_name, c.target))
    for kind in TEARDOWN_ORDER:
        ordered += teardown[kind] + deletes[kind]
    plan = Plan(ordered, backend, headers, warnings, config_checksum=config.checksum)
    plan.fingerprints = touched_fingerprints(plan.changes, live)
    plan.ids = referenced_ids(plan.changes, live)
    return plan


def referenced_ids(changes: list[Change], live: LiveState) -> dict[str, str]:
    """IDs of every live object the changes touch or refer to, so a saved plan can be checked
    and applied by reading only those objects."""
    refs: set[tuple[Kind, Key]] = set()
    for change in changes:
        refs.add((change.kind, change.key))
        refs.update(needs(change))
        if change.kind is Kind.JOB:
            refs.add((Kind.CLIENT, change.key[:1]))
    found = {}
    for kind, key in sorted(refs):
        obj = live.objects[kind].get(key)
        if obj is not None:
            found[fingerprint_key(kind, key)] = obj.id
    return found


def touched_fingerprints(changes: list[Change], live: LiveState) -> dict[str, str]:
    prints: dict[str, str] = {}
    for change in changes:
        if change.list_name:
            assigned = live.assignment_ids.get(change.key, {}).get(change.list_name)
            value = sorted(assigned) if assigned is not None else None
        else:
            obj = live.objects[change.kind].get(change.key)
            value = dict(obj.record) if obj else None
        prints[change.fingerprint_key()] = fingerprint(value)
    return prints


def _without_fields(want: DesiredObject, ignored: frozenset[str]) -> DesiredObject:
    """The object as far as this tool owns it: `ignore_fields` belong to other tools."""
    if not ignored or not (ignored & (set(want.fields) | set(want.assignments))):
        return want
    return replace(want, fields={n: v for n, v in want.fields.items() if n not in ignored},
                   assignments={n: v for n, v in want.assignments.items() if n not in ignored})


def _setup_rank(change: Change) -> tuple[int, Key]:
    return ({"reactivate": 0, "create": 1, "update": 2}[change.action], change.key)


def _identity_fields(have: LiveObject) -> dict[str, FieldChange]:
    name = have.fields.get("name")
    return {"name": FieldChange(name, None)} if name is not None else {}


def _object_changes(want: DesiredObject, have: LiveObject, warnings: list[str], live: LiveState) -> list[Change]:
    fields: dict[str, FieldChange] = {}
    for name, value in sorted(want.fields.items()):
        if name == "active":
            continue
        spec = FIELD_BY_YAML[want.kind][name]
        if spec.api not in have.record:
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
    return [Change("update", want.kind, want.key, fields)] if fields else []


def _activation_change(want: DesiredObject, have: LiveObject) -> list[Change]:
    active = want.fields.get("active")
    if active is None or active == have.active:
        return []
    action = "reactivate" if active else "deactivate"
    return [Change(action, want.kind, want.key, {"active": FieldChange(have.active, active)})]


def _assignment_changes(want: DesiredObject, live: LiveState) -> list[Change]:
    changes = []
    current = live.assignments.get(want.key, {})
    for list_name, targets in sorted(want.assignments.items()):
        have = current.get(list_name, frozenset())
        for target in sorted(targets - have):
            changes.append(Change("assign", Kind.JOB, want.key, {list_name: FieldChange(None, format_key(target))},
                                  list_name=list_name, target=target))
        for target in sorted(have - targets):
            changes.append(Change("unassign", Kind.JOB, want.key, {list_name: FieldChange(format_key(target), None)},
                                  list_name=list_name, target=target))
    return changes


def _exempt_from_prune(kind: Kind, have: LiveObject, live: LiveState) -> bool:
    """A new account's default tasks and the user the tool acts as are never pruned."""
    if kind is Kind.TASK and have.key[0] in DEFAULT_TASK_CODES:
        return True
    return kind is Kind.USER and have.id == live.me.get("ID")


def _explain_client_cascades(setup: dict[Kind, list[Change]], teardown: dict[Kind, list[Change]],
                             desired_jobs: dict[Key, DesiredObject], live: LiveState,
                             problems: list[Problem]) -> None:
    """Deactivating a client deactivates its jobs; reactivating it does not reactivate them."""
    jobs_by_client: dict[str, list[LiveObject]] = {}
    for job in live.objects[Kind.JOB].values():
        jobs_by_client.setdefault(job.key[0], []).append(job)
    deactivated_jobs = {c.key for c in teardown[Kind.JOB]}
    reactivated_jobs = {c.key for c in setup[Kind.JOB] if c.action in ("reactivate", "create")}
    for changes, action in ((teardown[Kind.CLIENT], "deactivate"), (setup[Kind.CLIENT], "reactivate")):
        for index, change in enumerate(changes):
            if change.action != action:
                continue
            jobs = sorted(jobs_by_client.get(change.key[0], []), key=lambda j: j.key)
            if action == "deactivate":
                cascaded = [format_key(j.key) for j in jobs if j.active and j.key not in deactivated_jobs]
                for job in jobs:
                    want = desired_jobs.get(job.key)
                    if want is not None and want.fields.get("active") is True:
                        problems.append(Problem(want.field_locations["active"],
                                                f"job '{format_key(job.key)}' is declared active, but its client "
                                                f"is deactivated by this plan, which deactivates its jobs"))
                note = f"also deactivates its {len(cascaded)} active job(s): {', '.join(cascaded)}" if cascaded else ""
            else:
                staying = [format_key(j.key) for j in jobs if not j.active and j.key not in reactivated_jobs]
                note = (f"its {len(staying)} inactive job(s) stay inactive (ClickTime does not reactivate them): "
                        f"{', '.join(staying)}") if staying else ""
            if note:
                changes[index] = Change(change.action, change.kind, change.key, change.fields,
                                        notes=(*change.notes, note))


def _check_against_live(config: Configuration, live: LiveState, problems: list[Problem]) -> None:
    for reference in config.dangling:
        if reference.key not in live.objects[reference.kind]:
            problems.append(Problem(reference.where, f"{reference.by} refers to {reference.kind.value} "
                                                     f"'{format_key(reference.key)}', which is declared nowhere "
                                                     "and does not exist in the account"))
    desired = config.desired.objects
    allowed = assignment_lists_allowed(live.company)
    for list_name, ok in allowed.items():
        if ok:
            continue
        using = [j for j in desired[Kind.JOB].values() if list_name in j.assignments and not j.absent]
        if using:
            setting, wanted = assumptions.ASSIGNMENT_REQUIRES[ASSIGNMENTS[list_name][1]]
            for job in using:
                problems.append(Problem(job.field_locations[list_name],
                                        f"{list_name}: the account's company setting {setting} is "
                                        f"{live.company.get(setting)!r}; managing job {list_name} needs {wanted!r}"))
    _check_unique_against_live(Kind.TASK, "name", desired, live, problems, fold=True)
    _check_unique_against_live(Kind.CLIENT, "client_number", desired, live, problems, fold=False)
    for job in desired[Kind.JOB].values():
        if job.absent or job.fields.get("time_requires_approval") is not True:
            continue
        have = live.objects[Kind.JOB].get(job.key)
        manager = job.fields.get("project_manager", have.fields.get("project_manager") if have else None)
        if not manager:
            problems.append(Problem(job.field_locations["time_requires_approval"],
                                    f"job '{format_key(job.key)}': time_requires_approval needs a project_manager"))
    for client in desired[Kind.CLIENT].values():
        if not client.absent:
            continue
        staying = [format_key(k) for k in live.objects[Kind.JOB]
                   if k[0] == client.key[0] and not (desired[Kind.JOB].get(k) and desired[Kind.JOB][k].absent)]
        if staying and assumptions.DELETE_REFUSED_FOR_CLIENT_WITH_JOBS:
            problems.append(Problem(client.where, f"client '{client.key[0]}' cannot be deleted while it has jobs "
                                                  f"({', '.join(sorted(staying))}); mark them absent too, or "
                                                  "deactivate the client instead"))


def _check_unique_against_live(kind: Kind, name: str, desired: dict[Kind, dict[Key, DesiredObject]],
                               live: LiveState, problems: list[Problem], fold: bool) -> None:
    """A value that must be unique, wanted by one object, held live by another that keeps it."""

    def norm(value: Any) -> Any:
        return value.casefold() if fold and isinstance(value, str) else value

    held: dict[Any, LiveObject] = {}
    for key, obj in live.objects[kind].items():
        value = obj.fields.get(name)
        want = desired[kind].get(key)
        if want is not None and (want.absent or name in want.fields):
            continue  # its value will change (or it goes away)
        if value:
            held[norm(value)] = obj
    for obj in desired[kind].values():
        value = obj.fields.get(name)
        if obj.absent or not value:
            continue
        holder = held.get(norm(value))
        if holder is not None and holder.key != obj.key:
            problems.append(Problem(obj.field_locations[name],
                                    f"{kind.value} '{format_key(obj.key)}': {name} '{value}' is already used by "
                                    f"{kind.value} '{format_key(holder.key)}' in the account"))


__all__ = ["build_plan", "normalise_email", "touched_fingerprints"]
