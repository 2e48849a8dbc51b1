"""`reconciler import`: write a live account as a tidy, reviewable configuration tree.

One file per client with its jobs (clients/<ShortName>.yaml), plus tasks.yaml, users.yaml,
divisions.yaml and employment_types.yaml. Keys are sorted and fields follow the reference table.
Fields equal to ClickTime's defaults for a new object (GET /<Collection>/new) are left out, and so
is `active: true`, unless all fields are asked for. The result plans to no changes.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ReconcilerError
from reconciler.model import (
    ASSIGNMENTS,
    FIELDS,
    KINDS,
    FieldType,
    Key,
    Kind,
    LiveObject,
    LiveState,
    format_key,
    live_fields,
)

SINGLE_FILES = {Kind.TASK: "tasks.yaml", Kind.USER: "users.yaml", Kind.DIVISION: "divisions.yaml",
                Kind.EMPLOYMENT_TYPE: "employment_types.yaml"}
SAFE_NAME = re.compile(r"[^\w.-]+")  # letters of any script, digits, _ . -


@dataclass
class ImportOptions:
    kinds: frozenset[Kind] = frozenset(KINDS)
    match: str | None = None  # glob over natural keys (jobs: CLIENT/JOBNUMBER)
    all_fields: bool = False
    active_only: bool = False
    defaults: Mapping[Kind, Mapping[str, Any]] = field(default_factory=dict)  # API records from /new


def _fields(obj: LiveObject, options: ImportOptions) -> dict[str, Any]:
    template = live_fields(obj.kind, options.defaults.get(obj.kind, {}), {})
    out: dict[str, Any] = {}
    for spec in FIELDS[obj.kind]:
        if spec.yaml not in obj.fields:
            continue
        value = obj.fields[spec.yaml]
        if value is None and spec.type is FieldType.MAP:
            value = {}  # an answer that leaves the map out holds none
        if not options.all_fields:
            if value is None or value == "" or value == {}:
                continue
            if spec.yaml in template and template[spec.yaml] == value:
                continue  # ClickTime's default for a new object: nothing to manage
            if spec.yaml == "active" and value is True:
                continue
        out[spec.yaml] = value
    return out


def _selected(live: LiveState, options: ImportOptions) -> dict[Kind, list[LiveObject]]:
    chosen: dict[Kind, list[LiveObject]] = {}
    for kind in KINDS:
        if kind not in options.kinds:
            continue
        chosen[kind] = [obj for key, obj in sorted(live.objects[kind].items())
                        if (not options.active_only or obj.active)
                        and (options.match is None or fnmatch.fnmatchcase(format_key(key), options.match))]
    return chosen


def export_documents(live: LiveState, options: ImportOptions | None = None) -> dict[str, dict[str, Any]]:
    """Relative file path -> document."""
    options = options or ImportOptions()
    chosen = _selected(live, options)
    documents: dict[str, dict[str, Any]] = {}
    declared: set[tuple[Kind, Key]] = {(k, o.key) for k, objs in chosen.items() for o in objs}
    referenced: set[tuple[Kind, Key]] = set()

    for kind, filename in SINGLE_FILES.items():
        if chosen.get(kind):
            section = {}
            for obj in chosen[kind]:
                written = obj.record["Email"] if kind is Kind.USER else obj.key[0]
                section[written] = _fields(obj, options)
                referenced.update(_refs(obj, section[written]))
            documents[filename] = {kind.section: section}

    client_files: dict[str, dict[str, Any]] = {}
    used_names: set[str] = set()

    def client_file(short_name: str) -> dict[str, Any]:
        if short_name not in client_files:
            base = SAFE_NAME.sub("_", short_name).strip("._") or "client"
            name, n = base, 2
            while name.lower() in used_names:
                name, n = f"{base}-{n}", n + 1
            used_names.add(name.lower())
            client_files[short_name] = documents.setdefault(f"clients/{name}.yaml", {})
        return client_files[short_name]

    for obj in chosen.get(Kind.CLIENT, []):
        client_file(obj.key[0]).setdefault("clients", {})[obj.key[0]] = _fields(obj, options)
    for obj in chosen.get(Kind.JOB, []):
        body = _fields(obj, options)
        for list_name, (target_kind, _) in ASSIGNMENTS.items():
            assigned = live.assignments.get(obj.key, {}).get(list_name)
            if assigned is not None:
                body[list_name] = sorted(format_key(k) for k in assigned)
                referenced.update((target_kind, k) for k in assigned)
        referenced.update(_refs(obj, body))
        referenced.add((Kind.CLIENT, obj.key[:1]))
        client_file(obj.key[0]).setdefault("jobs", {}).setdefault(obj.key[0], {})[obj.key[1]] = body

    stubs: dict[str, dict[str, Any]] = {}
    for kind, key in sorted(referenced - declared):
        if key in live.objects[kind]:
            written = live.objects[kind][key].record["Email"] if kind is Kind.USER else key[0]
            stubs.setdefault(kind.section, {})[written] = {}
    if stubs:
        documents["references.yaml"] = stubs
    return documents


def _refs(obj: LiveObject, body: Mapping[str, Any]) -> Iterable[tuple[Kind, Key]]:
    for spec in FIELDS[obj.kind]:
        if spec.ref is not None and isinstance(body.get(spec.yaml), str):
            yield spec.ref, (body[spec.yaml],) if spec.ref is not Kind.USER else (body[spec.yaml].lower(),)


HEADERS = {
    "references.yaml": "# Objects the imported part refers to but does not manage: declared empty, they only\n"
                       "# have to exist in the account.\n",
}


IMPORT_MARK = "# Written by `reconciler import`: a later `import --force` rewrites or removes this file.\n"


def _safe_target(out: Path, path: Path) -> None:
    """Never write through a symbolic link: not the file, not any directory between it and `out`."""
    current = path
    while True:
        if current.is_symlink():
            raise ReconcilerError(f"{current} is a symbolic link; import writes only plain files in plain directories")
        if current == out or current.parent == current:
            return
        current = current.parent


def write_export(live: LiveState, out: Path, options: ImportOptions | None = None,
                 remove_stale: bool = False, backend: str | None = None) -> list[Path]:
    """Write the tree. `remove_stale`: files an earlier import wrote (they carry IMPORT_MARK) that
    no object needs any more are removed, so a re-import never leaves a vanished client's file.
    `backend`: the one read, named in a new reconciler.yaml so that a plan of the import reads
    the same account."""
    written = []
    for relative, document in sorted(export_documents(live, options).items()):
        path = out / relative
        _safe_target(out, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
        path.write_text(IMPORT_MARK + HEADERS.get(relative, "") + text, encoding="utf-8")
        written.append(path)
    if remove_stale:
        for stale in sorted(set(out.rglob("*.yaml")) - set(written)):
            if stale.is_file() and not stale.is_symlink() and _written_by_import(stale):
                stale.unlink()
    settings = out / "reconciler.yaml"
    _safe_target(out, settings)
    if not settings.exists():
        source = ("# The account this configuration was imported from (--backend and RECONCILER_BACKEND "
                  f"override it).\nbackend: {backend}\n\n") if backend else ""
        settings.write_text(
            source + "# What happens to live objects this configuration does not mention: ignore | deactivate.\n"
            "# Everything starts as ignore: switch a kind to deactivate once it is fully managed here.\n"
            "prune:\n" + "".join(f"  {kind.section}: ignore\n" for kind in KINDS), encoding="utf-8")
        written.append(settings)
    return written


def _written_by_import(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline() == IMPORT_MARK
    except (OSError, UnicodeDecodeError):
        return False
