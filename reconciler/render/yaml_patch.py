"""Drift as an edit to the configuration: a unified diff that adopts the live values instead of
reverting them. Field values and assignment lists are rewritten in place; what cannot be
expressed as an in-place edit (objects only one side has) is listed as comments first.

Live values and keys are anyone's who can edit the account. A value is always written on one
line (a double-quoted scalar with escapes when it holds a line break or a control character),
a block scalar it replaces keeps the line break that ends it, and comment lines show keys and
values escaped, so that nothing live can add a line to the patch or leave its comment."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml

from reconciler.config.chars import visible
from reconciler.config.desired import Configuration
from reconciler.config.yamlfile import LocatedDocument, load_yaml
from reconciler.model import Key, Kind, LiveState, format_key, normalise_email
from reconciler.plan import Plan
from reconciler.render.redact import Redactor, personal_values, plan_values

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def flow_text(value: Any) -> str:
    """A value as YAML flow text, as it would be written inline: always one line."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _flow_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(flow_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow_string(str(k))}: {flow_text(v)}" for k, v in value.items()) + "}"
    return yaml.safe_dump([value], default_flow_style=True, width=2**31).strip()[1:-1]


def _flow_string(text: str) -> str:
    if text.isprintable():  # no line break, control or format character: YAML's own quoting
        return yaml.safe_dump([text], default_flow_style=True, allow_unicode=True, width=2**31).strip()[1:-1]
    return '"' + "".join(_ESCAPES.get(c) or (c if c.isprintable() else _escape(c)) for c in text) + '"'


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _object_path(doc: LocatedDocument, kind: Kind, key: Key) -> tuple[Any, ...] | None:
    section = doc.data.get(kind.section) if isinstance(doc.data, dict) else None
    if not isinstance(section, dict):
        return None
    if kind is Kind.JOB:
        jobs = section.get(key[0])
        return (kind.section, key[0], key[1]) if isinstance(jobs, dict) and key[1] in jobs else None
    for written in section:
        if (normalise_email(written) if kind is Kind.USER else written) == key[0]:
            return (kind.section, written)
    return None


def _replacement(text: str, span: tuple[int, int], value: Any) -> str:
    """What replaces the scalar at span. A block scalar (| or >) runs to the line break that
    ends it, and past blank lines after it: those stay, or the next key would join this line."""
    written = text[span[0]:span[1]]
    if written[:1] in "|>":
        return flow_text(value) + written[len(written.rstrip("\n")):]
    return flow_text(value)


def yaml_patch(plan: Plan, config: Configuration, live: LiveState, redact: bool = False) -> str:
    """`redact`: mask emails and every personal value the plan, the configuration and the
    account hold (redact.py); the patch is then for reading, not for applying."""
    documents: dict[str, tuple[str, LocatedDocument]] = {}
    edits: dict[str, dict[tuple[int, int], str]] = {}
    comments: list[str] = []

    def document(path: str) -> tuple[str, LocatedDocument] | None:
        if path not in documents:
            text = Path(path).read_text(encoding="utf-8")
            doc, _ = load_yaml(text, path)
            if doc is None:
                return None
            documents[path] = (text, doc)
        return documents[path]

    def edit(kind: Kind, key: Key, field: str | tuple[str, ...], value: Any) -> bool:
        want = config.desired.objects[kind].get(key)
        loaded = document(want.where.path) if want else None
        if not want or not loaded:
            return False
        text, doc = loaded
        base = _object_path(doc, kind, key)
        fields = field if isinstance(field, tuple) else (field,)
        span = doc.span((*base, *fields)) if base else None
        if span is None:
            return False
        edits.setdefault(want.where.path, {})[span] = _replacement(text, span, value)
        return True

    for change in plan.changes:
        label = visible(f"{change.kind.value} {format_key(change.key)}")
        want = config.desired.objects[change.kind].get(change.key)
        if change.target is not None:
            assigned = live.assignments.get(change.key, {}).get(change.list_name or "", frozenset())
            if not edit(change.kind, change.key, change.list_name or "", sorted(format_key(k) for k in assigned)):
                comments.append(f"# {label}: cannot rewrite {change.list_name} in place")
        elif want is None:
            comments.append(f"# {label} exists in the account but not in the configuration "
                            f"(prune would {change.action} it): declare it to keep it")
        elif change.action == "create":
            comments.append(f"# {label} is declared at {want.where} but does not exist in the account: "
                            "remove it to adopt the account")
        elif change.action == "delete":
            comments.append(f"# {label} is marked absent at {want.where} but exists in the account: "
                            "remove the tombstone to adopt the account")
        else:
            for name, field in change.fields.items():
                if isinstance(field.old, dict):  # custom fields: edit key by key
                    done = all(edit(change.kind, change.key, (name, k), v) for k, v in field.old.items())
                else:
                    done = edit(change.kind, change.key, name, field.old)
                if not done:
                    comments.append(f"# {label}: set {visible(name)} to {flow_text(field.old)} (at {want.where})")
    for warning in plan.warnings:
        comments.append(f"# note: {visible(warning)}")
    out = comments[:]
    for path in sorted(edits):
        text, _ = documents[path]
        new = text
        for (start, end), replacement in sorted(edits[path].items(), reverse=True):
            new = new[:start] + replacement + new[end:]
        shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
        out += [line.rstrip("\n") for line in difflib.unified_diff(
            _lines(text), _lines(new), f"a/{shown}", f"b/{shown}")]
    if redact:
        redactor = _redactor(plan, config, live)
        out = [line if line.startswith("@@") else redactor.text(line) for line in out]
    return "\n".join(out) + "\n" if out else ""


def _lines(text: str) -> list[str]:
    """Lines as patch reads them: split at \\n only (str.splitlines also splits at \\u2028 and
    other separators a YAML value may hold, which would make hunks patch cannot apply)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _redactor(plan: Plan, config: Configuration, live: LiveState) -> Redactor:
    """Everything personal the patch could show: its context lines are any object's."""
    values = plan_values(plan)
    for obj in config.desired.all():
        values += personal_values(obj.kind, obj.fields)
    for objects in live.objects.values():
        for live_obj in objects.values():
            values += personal_values(live_obj.kind, live_obj.fields)
    return Redactor(values)
