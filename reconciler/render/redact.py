"""--redact: personal and billing values masked, for comments anyone can read.

Masked: emails wherever they appear (user keys, ShortNames that are emails, `protect:`
patterns, assignment targets, notes, warnings), people's names and their start and end dates,
and the values of personal or billing fields (shown as changed, never shown). Free text (notes,
warnings, the lines of a drift patch) is masked for every personal value the plan or the
configuration holds; a person named only in free text and nowhere else cannot be recognised.

`redact_plan` serves every plan format (text, Markdown, JSON); `Redactor` masks any text, which
is how the drift patch is redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.model import Kind
from reconciler.plan import Change, FieldChange, Plan

# An email as people write it, any script in the local part; what it ends at is punctuation
# that cannot be in an address.
_NOT_IN_EMAIL = r"\s@<>\"'`,;:()\[\]{}|/\\"
EMAIL = re.compile(f"([^{_NOT_IN_EMAIL}])[^{_NOT_IN_EMAIL}]*@([^{_NOT_IN_EMAIL}]+)")
# Fields whose values are personal or billing data, for every kind and for people only.
MASKED_FIELDS = frozenset({"employee_number", "notes", "accounting_package_id", "custom_fields", "role"})
PERSONAL_FIELDS = frozenset({"name", "start_date", "end_date"})
REDACTED = "(redacted)"
_TOKEN = re.compile(r"[^\s'\"{}\[\],:#]+")
MIN_LENGTH = 3  # shorter values would mask unrelated text


def mask_emails(text: str) -> str:
    return EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def masked(kind: Kind, name: str) -> bool:
    return name in MASKED_FIELDS or (kind is Kind.USER and name in PERSONAL_FIELDS)


class Redactor:
    """Masks emails and known personal values in free text. Values are indexed by their first
    word, so a line is checked against the few values that could start in it."""

    def __init__(self, values: Iterable[str]) -> None:
        self.by_token: dict[str, list[str]] = {}
        for line in {line.strip() for value in values for line in value.splitlines()}:
            first = _TOKEN.search(line)
            if len(line) >= MIN_LENGTH and first:
                self.by_token.setdefault(first.group(0), []).append(line)
        for candidates in self.by_token.values():
            candidates.sort(key=len, reverse=True)

    def text(self, text: str) -> str:
        if self.by_token:
            for token in set(_TOKEN.findall(text)):
                for value in self.by_token.get(token, ()):
                    if value in text:
                        text = text.replace(value, REDACTED)
        return mask_emails(text)


def personal_values(kind: Kind, fields: Mapping[str, Any]) -> list[str]:
    """The texts a redacted rendering must not show, of one object's fields."""
    found: list[str] = []
    for name, value in fields.items():
        if masked(kind, name):
            found += _texts(value)
    return found


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if value is None or isinstance(value, bool):
        return []
    return [str(value)]


def plan_values(plan: Plan) -> list[str]:
    values: list[str] = []
    for change in plan.changes:
        for name, field in change.fields.items():
            if masked(change.kind, name):
                values += _texts(field.old) + _texts(field.new)
    return values


def _mask(kind: Kind, name: str, value: Any) -> Any:
    if value is None:
        return None
    if masked(kind, name):
        return REDACTED
    if isinstance(value, str):
        return mask_emails(value)
    if isinstance(value, list):
        return [_mask(kind, name, v) for v in value]
    return value


def redact_change(change: Change, redactor: Redactor | None = None) -> Change:
    redactor = redactor or Redactor(())
    key = tuple(mask_emails(part) for part in change.key)  # a ShortName may be an email too
    target = tuple(mask_emails(p) for p in change.target) if change.target else change.target
    fields = {name: FieldChange(_mask(change.kind, name, field.old), _mask(change.kind, name, field.new))
              for name, field in change.fields.items()}
    return replace(change, key=key, target=target, fields=fields, notes=tuple(redactor.text(n) for n in change.notes))


def redact_plan(plan: Plan) -> Plan:
    redactor = Redactor(plan_values(plan))
    kinds = {kind: replace(header, protect=tuple(mask_emails(p) for p in header.protect))
             for kind, header in plan.kinds.items()}
    return replace(plan, changes=tuple(redact_change(c, redactor) for c in plan.changes), kinds=kinds,
                   warnings=tuple(redactor.text(w) for w in plan.warnings), fingerprints={}, ids={})
