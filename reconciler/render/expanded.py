"""`reconciler render`: the configuration with defaults, templates and variables expanded."""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.model import ASSIGNMENTS, FIELDS, KINDS, DesiredState, Kind, format_key


def expanded_document(state: DesiredState) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for kind in KINDS:
        objects = state.objects[kind]
        if not objects:
            continue
        section: dict[str, Any] = {}
        for key in sorted(objects):
            obj = objects[key]
            body: dict[str, Any] = {"absent": True} if obj.absent else {
                spec.yaml: obj.fields[spec.yaml] for spec in FIELDS[kind] if spec.yaml in obj.fields}
            for list_name in ASSIGNMENTS:
                if list_name in obj.assignments:
                    body[list_name] = sorted(format_key(k) for k in obj.assignments[list_name])
            if kind is Kind.JOB:
                section.setdefault(key[0], {})[key[1]] = body
            else:
                section[key[0]] = body
        document[kind.section] = section
    return document


def render_expanded(state: DesiredState) -> str:
    document = expanded_document(state)
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    if all(line.isprintable() for line in text.splitlines()):
        return text
    # YAML counts bidi overrides and other format characters as printable and writes them raw;
    # escaping everything beyond ASCII keeps them from reordering what the terminal shows
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=False, width=100)
