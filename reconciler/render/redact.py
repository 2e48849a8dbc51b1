"""--redact: a copy of the plan with personal and billing values masked, for public PR comments."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from reconciler.model import Kind
from reconciler.plan import Change, FieldChange, Plan

EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
# Fields whose values are personal or billing data: shown as changed, never shown.
MASKED_FIELDS = frozenset({"employee_number", "notes", "accounting_package_id", "custom_fields", "role"})


def mask_emails(text: str) -> str:
    return EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def _mask(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in MASKED_FIELDS:
        return "(redacted)"
    if isinstance(value, str):
        return mask_emails(value)
    if isinstance(value, list):
        return [_mask(name, v) for v in value]
    return value


def redact_change(change: Change) -> Change:
    key = tuple(mask_emails(part) for part in change.key) if change.kind is Kind.USER else change.key
    target = tuple(mask_emails(p) for p in change.target) if change.target else change.target
    fields = {n: FieldChange(_mask(n, f.old), _mask(n, f.new)) for n, f in change.fields.items()}
    return replace(change, key=key, target=target, fields=fields,
                   notes=tuple(mask_emails(n) for n in change.notes))


def redact_plan(plan: Plan) -> Plan:
    return replace(plan, changes=[redact_change(c) for c in plan.changes],
                   warnings=[mask_emails(w) for w in plan.warnings], fingerprints={}, ids={})
