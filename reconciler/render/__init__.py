"""Plan renderings: text for terminals, JSON for machines, Markdown for pull requests."""

from __future__ import annotations

import json
from typing import Any

from reconciler.perf import without_gc
from reconciler.plan import Plan

SYMBOLS = {"create": "+", "update": "~", "reactivate": "^", "deactivate": "-", "delete": "x",
           "assign": "+", "unassign": "-"}


def value_text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def summary_line(plan: Plan) -> str:
    counts = plan.summary()
    if plan.empty:
        return "No changes. The account matches the configuration."
    parts = [f"{n} to {action}" for action, n in counts.items() if n]
    return "Plan: " + ", ".join(parts) + "."


@without_gc
def render(plan: Plan, fmt: str, color: bool = False) -> str:
    from reconciler.render import json_format, markdown, text

    if fmt == "json":
        return json_format.render(plan)
    if fmt == "markdown":
        return markdown.render(plan)
    return text.render(plan, color)
