"""ClickTime's rules, checked against the live account before anything is written. Pure.

Each rule turns what the account would refuse (or silently mishandle) into a located problem, so
that an apply never stops half-way on a 400 the plan could have foreseen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.clicktime import assumptions
from reconciler.config.desired import Configuration
from reconciler.errors import Location, Problem
from reconciler.model import ASSIGNMENTS, DesiredObject, Key, Kind, LiveObject, LiveState, format_key

MODULES_FOR_DIVISIONS = ("Corporate", "Enterprise")
CUSTOM_FIELD_KINDS = frozenset({Kind.CLIENT, Kind.JOB, Kind.TASK, Kind.USER, Kind.DIVISION})


def company_modules(company: Mapping[str, Any]) -> set[str]:
    """Company.OptionalModules, read whichever way it comes: {name: true}, [names] or one name."""
    value = company.get("OptionalModules")
    if isinstance(value, dict):
        return {str(k) for k, v in value.items() if v}
    if isinstance(value, list):
        return {str(v) for v in value}
    return {value} if isinstance(value, str) and value else set()


def kind_unavailable(kind: Kind, company: Mapping[str, Any]) -> str | None:
    """Why the account cannot hold this kind at all, or None. Unknown settings never refuse."""
    if kind is Kind.DIVISION and "OptionalModules" in company and not (
            company_modules(company) & set(MODULES_FOR_DIVISIONS)):
        return ("divisions need ClickTime's Corporate or Enterprise module (Company.OptionalModules has "
                "neither); leave divisions out of the configuration, or upgrade the account")
    return None


@dataclass(frozen=True)
class Gate:
    """A field the account refuses (or would silently drop) under its current settings."""

    kind: Kind
    field: str
    reason: str


def closed_gates(company: Mapping[str, Any]) -> list[Gate]:
    """The spec's company requirements on managed fields that this account does not meet. A
    setting the account does not report is not taken as closed: `doctor --probe` tells."""
    gates = []
    billable_by = company.get("BillableSetting")
    if billable_by in ("Job", "Task"):
        other, closed = ("task", Kind.JOB) if billable_by == "Task" else ("job", Kind.TASK)
        gates.append(Gate(closed, "billable", f"this account sets billability by {other} (Company.BillableSetting = "
                                              f"{billable_by}); manage billable on {other}s, or change the setting "
                                              "in ClickTime"))
    if company.get("EnableProjectApprovals") is False:
        gates.append(Gate(Kind.JOB, "time_requires_approval",
                          "Job Approvals are off in this account (Company.EnableProjectApprovals = false); turn "
                          "them on in ClickTime, or leave time_requires_approval out"))
    division = kind_unavailable(Kind.DIVISION, company)
    if division:
        gates.append(Gate(Kind.USER, "division", division))
    return gates


def gated_api_fields(kind: Kind, company: Mapping[str, Any]) -> frozenset[str]:
    from reconciler.model import FIELD_BY_YAML

    return frozenset(FIELD_BY_YAML[kind][g.field].api for g in closed_gates(company) if g.kind is kind)


def assignment_lists_allowed(company: Mapping[str, Any]) -> dict[str, bool]:
    """Which job assignment lists the company's list controls let the API manage."""
    allowed = {}
    for list_name, (_, sub) in ASSIGNMENTS.items():
        setting, wanted = assumptions.ASSIGNMENT_REQUIRES[sub]
        allowed[list_name] = company.get(setting) == wanted
    return allowed


def exempt_from_prune(kind: Kind, have: LiveObject, live: LiveState) -> bool:
    """The user the tool acts as is never pruned. (ClickTime's nine seeded tasks cannot be told
    apart from others: their names are undocumented; see SEEDED_TASKS_NOTE.)"""
    return kind is Kind.USER and have.id == live.me.get("ID")


SEEDED_TASKS_NOTE = ("ClickTime creates nine tasks with every account; if this is one of them, declare it, list it "
                     "under protect.tasks, or `reconciler import --kinds tasks` first")


def check_against_live(config: Configuration, live: LiveState,
                       problems: list[Problem]) -> dict[tuple[Kind, Key], tuple[str, ...]]:
    """Add a located problem for everything the account would refuse; return plan notes by object."""
    notes: dict[tuple[Kind, Key], tuple[str, ...]] = {}
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
                                        f"{list_name}: the account's list controls are off for this "
                                        f"(Company.{setting} = {live.company.get(setting)!r}); managing job "
                                        f"{list_name} needs {setting} = {wanted!r}: change it in ClickTime "
                                        "(Company Preferences > list controls), or leave the list out"))
    _check_account_settings(config, live, problems)
    _check_custom_fields(config, live, problems)
    _check_case_twins(config, live, problems)
    notes.update(_administrators(config, live))
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
    return notes


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
    for wanted in desired[kind].values():
        value = wanted.fields.get(name)
        if wanted.absent or not value:
            continue
        holder = held.get(norm(value))
        if holder is not None and holder.key != wanted.key:
            problems.append(Problem(wanted.field_locations[name],
                                    f"{kind.value} '{format_key(wanted.key)}': {name} '{value}' is already used by "
                                    f"{kind.value} '{format_key(holder.key)}' in the account"))


def _check_account_settings(config: Configuration, live: LiveState, problems: list[Problem]) -> None:
    desired = config.desired.objects
    for gate in closed_gates(live.company):
        for obj in desired[gate.kind].values():
            if gate.field in obj.fields and not obj.absent:
                problems.append(Problem(obj.field_locations.get(gate.field, obj.where), f"{gate.field}: {gate.reason}"))
    for kind, reason in live.unavailable.items():
        for obj in desired[kind].values():
            problems.append(Problem(obj.where, f"{kind.value} '{format_key(obj.key)}': {reason}"))


def _definitions(live: LiveState, kind: Kind) -> dict[str, Mapping[str, Any]] | None:
    defined = live.custom_fields.get(kind)
    if defined is None:
        return None
    return {str(d.get("Name")): d for d in defined if d.get("Name")}


def _check_custom_fields(config: Configuration, live: LiveState, problems: list[Problem]) -> None:
    """Keys must be defined for the kind, values must fit their definition, and a required
    definition must have a value on create: each a located problem, never a 400 half-way."""
    for kind in sorted(CUSTOM_FIELD_KINDS & set(live.custom_fields)):
        defined = _definitions(live, kind)
        if defined is None:
            continue
        required = sorted(name for name, d in defined.items() if d.get("IsRequired") is True)
        for obj in config.desired.objects[kind].values():
            if obj.absent:
                continue
            declared = obj.fields.get("custom_fields") or {}
            where = obj.field_locations.get("custom_fields", obj.where)
            for name, value in sorted(declared.items()):
                definition = defined.get(name)
                if definition is None:
                    known = ", ".join(sorted(defined)) or "none"
                    problems.append(Problem(_entry(obj, name, where),
                                            f"custom_fields.{name}: no custom field {name!r} is defined for "
                                            f"{kind.section} in this account (defined: {known}); define it in "
                                            "ClickTime (Company > Custom Fields) or remove it"))
                    continue
                unfit = _unfit_value(definition, value)
                if unfit:
                    problems.append(Problem(_entry(obj, name, where, value=True), f"custom_fields.{name}: {unfit}"))
            creating = obj.key not in live.objects[kind]
            missing = [name for name in required if declared.get(name) in (None, "")]
            if creating and missing:
                problems.append(Problem(where, f"{kind.value} '{format_key(obj.key)}': the account requires the "
                                               f"custom field(s) {', '.join(missing)} for new {kind.section}; "
                                               "declare them under custom_fields"))


def _entry(obj: DesiredObject, name: str, fallback: Location, value: bool = False) -> Location:
    locate = getattr(obj.field_locations, "entry", None)
    try:
        return locate("custom_fields", name, value) if locate is not None else fallback
    except KeyError:
        return fallback


def _unfit_value(definition: Mapping[str, Any], value: Any) -> str | None:
    """Why a value does not fit its definition's DataType (the names follow the account's own
    answer; an unknown type is not judged)."""
    if value is None or value == "":
        return None
    data_type = str(definition.get("DataType") or "")
    if data_type == "Number" and (isinstance(value, bool) or not _is_number(value)):
        return f"{value!r} is not a number (the field is a Number)"
    if data_type == "Checkbox" and not isinstance(value, bool):
        return f"{value!r} is not true or false (the field is a Checkbox)"
    if data_type == "Date" and not (isinstance(value, str) and _ISO_DATE.match(value)):
        return f"{value!r} is not a date YYYY-MM-DD (the field is a Date)"
    choices = definition.get("PulldownValues")
    if data_type == "Pulldown" and isinstance(choices, list) and choices and value not in choices:
        return f"{value!r} is not one of {', '.join(str(c) for c in choices)}"
    return None


def _is_number(value: Any) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


_CASE_CHECKED = {Kind.CLIENT: "ShortName", Kind.TASK: "TaskCode", Kind.JOB: "JobNumber", Kind.USER: "Email"}


def _check_case_twins(config: Configuration, live: LiveState, problems: list[Problem]) -> None:
    """ClickTime's case rules are undocumented: a new key that differs from a live one only in
    case would either be refused or become a near-duplicate. Never create it."""
    for kind, api_name in _CASE_CHECKED.items():
        by_folded: dict[Key, Key] = {tuple(p.casefold() for p in key): key for key in live.objects[kind]}
        for obj in config.desired.objects[kind].values():
            if obj.absent or obj.key in live.objects[kind]:
                continue
            twin = by_folded.get(tuple(p.casefold() for p in obj.key))
            if twin is not None:
                problems.append(Problem(obj.where, f"{kind.value} '{format_key(obj.key)}' differs only in case from "
                                                   f"'{format_key(twin)}' in the account ({api_name}); ClickTime's "
                                                   "case rules are undocumented, so it is not created: write the key "
                                                   "as the account has it"))


ADMIN_NOTE = ("ClickTime's API cannot create administrators: created as a manager; promote them in ClickTime "
              "under Company > People")


def _administrators(config: Configuration, live: LiveState) -> dict[tuple[Kind, Key], tuple[str, ...]]:
    notes: dict[tuple[Kind, Key], tuple[str, ...]] = {}
    for obj in config.desired.objects[Kind.USER].values():
        if obj.fields.get("security_level") == "admin" and obj.key not in live.objects[Kind.USER] and not obj.absent:
            notes[(Kind.USER, obj.key)] = (ADMIN_NOTE,)
    return notes
