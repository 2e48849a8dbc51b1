"""The plan as JSON (planfile's one JSON form), readable in a terminal too: JSON leaves C1
controls, bidi overrides and line separators raw inside strings, so they are written as \\u
escapes, which any JSON reader turns back into the same text."""

from __future__ import annotations

import json

from reconciler.config.chars import unsafe
from reconciler.plan import Plan
from reconciler.planfile import plan_to_json


def render(plan: Plan) -> str:
    return terminal_safe_json(json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False))


def terminal_safe_json(text: str) -> str:
    """JSON text with every control, format or separator character escaped; lines that need
    nothing (almost all) are checked in C and kept as they are."""
    return "\n".join(line if line.isprintable() else "".join(json.dumps(c)[1:-1] if unsafe(c) else c for c in line)
                     for line in text.split("\n"))
