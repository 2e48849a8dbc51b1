from __future__ import annotations

import json

from reconciler.plan import Plan
from reconciler.planfile import plan_to_json


def render(plan: Plan) -> str:
    return json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False)
