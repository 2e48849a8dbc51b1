from __future__ import annotations

import json

from reconciler.plan import Plan


def render(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, ensure_ascii=False)
