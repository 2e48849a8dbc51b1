"""ClickTime's rules, checked against the live account before anything is written. Pure.

Each rule turns what the account would refuse (or silently mishandle) into a located problem, so
that an apply never stops half-way on a 400 the plan could have foreseen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.clicktime import assumptions
from reconciler.config.desired import Configuration
from reconciler.errors import Problem
from reconciler.model import ASSIGNMENTS, DesiredObject, Key, Kind, LiveObject, LiveState, format_key

DEFAULT_TASK_CODES = frozenset(code for code, _ in assumptions.DEFAULT_TASKS)


def assignment_lists_allowed(company: Mapping[str, Any]) -> dict[str, bool]:
    """Which job assignment lists the company's list controls let the API manage."""
    allowed = {}
    for list_name, (_, sub) in ASSIGNMENTS.items():
        setting, wanted = assumptions.ASSIGNMENT_REQUIRES[sub]
        allowed[list_name] = company.get(setting) == wanted
    return allowed


def exempt_from_prune(kind: Kind, have: LiveObject, live: LiveState) -> bool:
    """A new account's default tasks and the user the tool acts as are never pruned."""
    if kind is Kind.TASK and have.key[0] in DEFAULT_TASK_CODES:
        return True
    return kind is Kind.USER and have.id == live.me.get("ID")


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
    for obj in desired[kind].values():
        value = obj.fields.get(name)
        if obj.absent or not value:
            continue
        holder = held.get(norm(value))
        if holder is not None and holder.key != obj.key:
            problems.append(Problem(obj.field_locations[name],
                                    f"{kind.value} '{format_key(obj.key)}': {name} '{value}' is already used by "
                                    f"{kind.value} '{format_key(holder.key)}' in the account"))


