"""Write a live account as a configuration directory that plans to no changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconciler.model import ASSIGNMENTS, FIELDS, Kind, LiveObject, LiveState, format_key

FILES = {Kind.CLIENT: "clients.yaml", Kind.TASK: "tasks.yaml", Kind.USER: "users.yaml", Kind.JOB: "jobs.yaml"}


def _object_fields(obj: LiveObject) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in FIELDS[obj.kind]:
        value = obj.fields.get(spec.yaml)
        if value is None or value == "" or value == {}:
            continue  # not returned, or empty: leaving it out leaves it unmanaged
        out[spec.yaml] = value
    return out


def export_documents(live: LiveState) -> dict[str, dict[str, Any]]:
    """File name -> document. Keys sorted, fields in the reference table's order."""
    documents: dict[str, dict[str, Any]] = {}
    for kind in (Kind.CLIENT, Kind.TASK, Kind.USER):
        section = {}
        for key, obj in sorted(live.objects[kind].items()):
            written = obj.record["Email"] if kind is Kind.USER else key[0]
            section[written] = _object_fields(obj)
        documents[FILES[kind]] = {kind.section: section}
    jobs: dict[str, dict[str, Any]] = {}
    for key, obj in sorted(live.objects[Kind.JOB].items()):
        fields = _object_fields(obj)
        for list_name in ASSIGNMENTS:
            assigned = live.assignments.get(key, {}).get(list_name)
            if assigned is not None:
                fields[list_name] = sorted(format_key(k) for k in assigned)
        jobs.setdefault(key[0], {})[key[1]] = fields
    documents[FILES[Kind.JOB]] = {"jobs": jobs}
    return documents


def write_export(live: LiveState, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in export_documents(live).items():
        path = out / name
        path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
        written.append(path)
    settings = out / "reconciler.yaml"
    if not settings.exists():
        settings.write_text(
            "# What happens to live objects this configuration does not mention: ignore | deactivate\n"
            "prune:\n  clients: ignore\n  jobs: ignore\n  tasks: ignore\n  users: ignore\n", encoding="utf-8")
        written.append(settings)
    return written
