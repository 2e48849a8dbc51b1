"""Plan renderings: text for terminals, JSON for machines, Markdown for pull requests.

Every rendering shows values from the configuration and the account escaped (`visible`): a name
holding ESC, a bare CR or a bidi override must not act on the terminal or reorder what is read.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.config.chars import visible
from reconciler.perf import without_gc
from reconciler.plan import Plan

__all__ = ["SYMBOLS", "render", "summary_line", "value_text", "visible"]

SYMBOLS = {"create": "+", "update": "~", "reactivate": "^", "deactivate": "-", "delete": "x",
           "assign": "+", "unassign": "-"}


def value_text(value: Any) -> str:
    """A value as JSON text; what JSON leaves raw (C1 controls, bidi and line separators) escaped."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return visible(json.dumps(value, ensure_ascii=False))
    return visible(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def summary_line(plan: Plan) -> str:
    counts = plan.summary()
    if plan.empty:
        return "No changes. The account matches the configuration."
    parts = [f"{n} to {action}" for action, n in counts.items() if n]
    return "Plan: " + ", ".join(parts) + "."


@without_gc
def render(plan: Plan, fmt: str, color: bool = False, redact: bool = False) -> str:
    """`redact`: mask personal and billing values first (see redact.py), in any format."""
    from reconciler.render import json_format, markdown, text
    from reconciler.render.redact import redact_plan

    shown = redact_plan(plan) if redact else plan
    if fmt == "json":
        return json_format.render(shown)
    if fmt == "markdown":
        return markdown.render(shown)
    return text.render(shown, color)
