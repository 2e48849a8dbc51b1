"""Guard rails checked before any write: thresholds per kind and the explicit delete opt-in."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.config.settings import Settings
from reconciler.model import KINDS, Kind
from reconciler.plan import Action, Plan


@dataclass(frozen=True)
class Refusal:
    reason: str
    overridable: bool  # --force lifts it; hard deletes need --allow-delete whatever else is passed


def guard_rail_refusals(plan: Plan, settings: Settings, allow_delete: bool) -> list[Refusal]:
    """Why `apply` would refuse this plan. Percentages are of the active objects of a kind, and a
    client's deactivation counts the active jobs ClickTime deactivates with it."""
    refusals = []
    for kind in KINDS:
        header = plan.kinds.get(kind)
        if header is None:
            continue
        limits = settings.threshold(kind)
        base = header.active
        if base < limits.min_objects:
            continue
        changes = [c for c in plan.changes if c.kind is kind and c.target is None]
        removals = sum(c.action.teardown for c in changes)
        if kind is Kind.JOB:
            removals += sum(c.cascade for c in plan.changes if c.kind is Kind.CLIENT and c.action is Action.DEACTIVATE)
        updates = sum(c.action is Action.UPDATE for c in changes)
        for count, limit, verb, setting in ((removals, limits.remove_percent, "deactivates or deletes", "remove"),
                                            (updates, limits.update_percent, "updates", "update")):
            if count > base * limit / 100:
                refusals.append(Refusal(
                    f"{kind.section}: the plan {verb} {count} of {base} active {kind.section} "
                    f"({100 * count / base:.0f}%), over the {limit:g}% threshold; review it and pass --force, or "
                    f"set thresholds.{kind.section}.{setting}_percent", overridable=True))
    deletes = sum(c.action is Action.DELETE for c in plan.changes)
    if deletes and not allow_delete:
        refusals.append(Refusal(f"the plan hard-deletes {deletes} object(s); deletes cannot be undone: pass "
                                "--allow-delete", overridable=False))
    return refusals
