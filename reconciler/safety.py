"""Guard rails checked before any write: thresholds per kind and the explicit delete opt-in."""

from __future__ import annotations

from reconciler.config.settings import Settings
from reconciler.model import KINDS
from reconciler.plan import Plan


def guard_rail_refusals(plan: Plan, settings: Settings, allow_delete: bool) -> list[str]:
    """Why `apply` would refuse this plan without --force (deletes: without --allow-delete)."""
    reasons = []
    for kind in KINDS:
        header = plan.kinds.get(kind)
        if header is None:
            continue
        limits = settings.threshold(kind)
        live = header.live
        if live < limits.min_objects:
            continue
        changes = [c for c in plan.changes if c.kind is kind and c.target is None]
        removals = sum(c.action in ("deactivate", "delete") for c in changes)
        updates = sum(c.action == "update" for c in changes)
        for count, limit, verb, setting in ((removals, limits.remove_percent, "deactivates or deletes", "remove"),
                                            (updates, limits.update_percent, "updates", "update")):
            if count > live * limit / 100:
                reasons.append(f"{kind.section}: the plan {verb} {count} of {live} live {kind.section} "
                               f"({100 * count / live:.0f}%), over the {limit:g}% threshold; review it and pass "
                               f"--force, or set thresholds.{kind.section}.{setting}_percent")
    deletes = sum(c.action == "delete" for c in plan.changes)
    if deletes and not allow_delete:
        reasons.append(f"the plan hard-deletes {deletes} object(s); deletes cannot be undone: pass --allow-delete")
    return reasons
