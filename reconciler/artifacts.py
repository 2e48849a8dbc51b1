"""Plans kept for another job (a workflow artifact), redacted as far as applying them allows.

`apply --plan` sends only new values, which come from the configuration (in the repository the
artifact belongs to anyway), and finds objects by their keys and IDs. The old values are the
account's own data and only ever shown: a redacted saved plan masks them, and the notes and
warnings, as `--redact` does for comments. Keys stay: the plan acts on them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.model import Kind
from reconciler.plan import FieldChange, Plan
from reconciler.render.redact import REDACTED, Redactor, mask_emails, masked, plan_values


def redact_saved(plan: Plan) -> Plan:
    redactor = Redactor(plan_values(plan))
    changes = []
    for change in plan.changes:
        fields = {name: FieldChange(_old(change.kind, name, field.old), field.new) for name, field in
                  change.fields.items()}
        changes.append(replace(change, fields=fields, notes=tuple(redactor.text(n) for n in change.notes)))
    return replace(plan, changes=tuple(changes), warnings=tuple(redactor.text(w) for w in plan.warnings))


def _old(kind: Kind, name: str, value: Any) -> Any:
    if value is None:
        return None
    if masked(kind, name):
        return REDACTED
    return mask_emails(value) if isinstance(value, str) else value
