"""Drift as an edit to the configuration: a unified diff that adopts the live values instead of
reverting them. Field values and assignment lists are rewritten in place; what cannot be
expressed as an in-place edit (objects only one side has) is listed as comments first."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from reconciler.config.desired import Configuration
from reconciler.config.yamlfile import LocatedDocument, load_yaml
from reconciler.model import Key, Kind, LiveState, format_key, normalise_email
from reconciler.plan import Plan


def flow_text(value: Any) -> str:
    """A value as YAML flow text, as it would be written inline."""
    if value is None:
        return "null"
    return yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=10**6).strip()[1:-1]


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


def yaml_patch(plan: Plan, config: Configuration, live: LiveState) -> str:
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
        if not loaded:
            return False
        doc = loaded[1]
        base = _object_path(doc, kind, key)
        fields = field if isinstance(field, tuple) else (field,)
        span = doc.span((*base, *fields)) if base else None
        if span is None:
            return False
        edits.setdefault(want.where.path, {})[span] = flow_text(value)
        return True

    for change in plan.changes:
        label = f"{change.kind.value} {format_key(change.key)}"
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
                    comments.append(f"# {label}: set {name} to {flow_text(field.old)} (at {want.where})")
    for warning in plan.warnings:
        comments.append(f"# note: {warning}")
    out = comments[:]
    for path in sorted(edits):
        text, _ = documents[path]
        new = text
        for (start, end), replacement in sorted(edits[path].items(), reverse=True):
            new = new[:start] + replacement + new[end:]
        shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
        out += [line.rstrip("\n") for line in difflib.unified_diff(
            text.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{shown}", f"b/{shown}")]
    return "\n".join(out) + "\n" if out else ""
