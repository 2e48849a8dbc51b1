"""Read a configuration directory into a DesiredState, collecting every problem at once."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.config.schema import check_document
from reconciler.config.yamlfile import LocatedDocument, read_yaml_file
from reconciler.errors import ConfigError, Location, Problem
from reconciler.model import (
    ASSIGNMENTS, FIELD_BY_YAML, KIND_BY_SECTION, KINDS, UNDELETABLE, DesiredObject, DesiredState, Key, Kind,
    format_key, normalise_email, ref_key,
)

SETTINGS_FILE = "reconciler.yaml"
PRUNE_POLICIES = ("ignore", "deactivate")


@dataclass(frozen=True)
class Settings:
    backend: str | None = None
    prune: dict[Kind, str] = field(default_factory=lambda: {k: "ignore" for k in KINDS})
    api: dict[str, float] = field(default_factory=dict)  # rate_limit, concurrency, timeout
    membrane: dict[str, str] = field(default_factory=dict)  # connection, binary, api_url
    protect: dict[Kind, tuple[str, ...]] = field(default_factory=dict)  # glob patterns over natural keys
    ignore_fields: dict[Kind, frozenset[str]] = field(default_factory=dict)
    thresholds: dict[Kind, Threshold] = field(default_factory=dict)

    def threshold(self, kind: Kind) -> "Threshold":
        return self.thresholds.get(kind, Threshold())

    def protected(self, kind: Kind, key: Key) -> bool:
        text = format_key(key)
        return any(fnmatch.fnmatchcase(text, pattern) or (kind is Kind.USER and fnmatch.fnmatchcase(
            text, pattern.lower())) for pattern in self.protect.get(kind, ()))


@dataclass(frozen=True)
class Threshold:
    """octoDNS-style guard rail: refuse to remove or update more than a share of a kind at once."""

    remove_percent: float = 10.0
    update_percent: float = 30.0
    min_objects: int = 10


@dataclass(frozen=True)
class Reference:
    """A reference to an object the configuration does not declare: it must exist live."""

    kind: Kind
    key: Key
    where: Location
    by: str  # what refers to it, for messages

    def problem(self) -> Problem:
        return Problem(self.where, f"{self.by} refers to {self.kind.value} '{format_key(self.key)}', "
                                   f"which is declared nowhere")


@dataclass
class Configuration:
    root: Path
    settings: Settings
    desired: DesiredState
    dangling: list[Reference]
    checksum: str
    files: list[str]


def discover(root: Path) -> list[Path]:
    """Every *.yaml/*.yml below root in a stable order, skipping hidden folders and the settings."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix in (".yaml", ".yml") and path.is_file() and relative.as_posix() != SETTINGS_FILE:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def load_configuration(root: Path | str) -> Configuration:
    """Load and check a configuration directory; raise ConfigError listing every problem."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError([Problem(Location(str(root)), "configuration directory not found")])
    problems: list[Problem] = []
    digest = hashlib.sha256()
    settings = Settings()
    settings_path = root / SETTINGS_FILE
    if settings_path.is_file():
        digest.update(b"settings\0" + settings_path.read_bytes())
        settings = _load_settings(settings_path, _display(root, settings_path), problems)
    files = discover(root)
    builder = _Builder()
    for path in files:
        display = _display(root, path)
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        if path.name == SETTINGS_FILE:
            problems.append(Problem(Location(display), f"settings are read only from the configuration root: "
                                                       f"move this file to {root / SETTINGS_FILE}"))
            continue
        document, file_problems = read_yaml_file(path, display)
        problems += file_problems
        if document is None:
            continue
        schema_problems = check_document(document, "config.schema.json")
        problems += schema_problems
        if isinstance(document.data, dict):
            builder.add_document(document, problems)
    if not files and not problems:
        problems.append(Problem(Location(str(root)), "no *.yaml files found"))
    dangling = builder.check(problems)
    if problems:
        raise ConfigError(problems)
    return Configuration(root, settings, builder.state, dangling, digest.hexdigest(),
                         [_display(root, p) for p in files])


def _display(root: Path, path: Path) -> str:
    return str(root / path.relative_to(root))


def _load_settings(path: Path, display: str, problems: list[Problem]) -> Settings:
    document, file_problems = read_yaml_file(path, display)
    problems += file_problems
    if document is None:
        return Settings()
    schema_problems = check_document(document, "settings.schema.json")
    problems += schema_problems
    data = document.data if isinstance(document.data, dict) else {}
    if schema_problems:
        return Settings()
    prune = {kind: (data.get("prune") or {}).get(kind.section, "ignore") for kind in KINDS}
    by_kind = {kind.section: kind for kind in KINDS}
    return Settings(
        backend=data.get("backend"), prune=prune, api=dict(data.get("api") or {}),
        membrane=dict(data.get("membrane") or {}),
        protect={by_kind[s]: tuple(v) for s, v in (data.get("protect") or {}).items()},
        ignore_fields={by_kind[s]: frozenset(v) for s, v in (data.get("ignore_fields") or {}).items()},
        thresholds={by_kind[s]: Threshold(**v) for s, v in (data.get("thresholds") or {}).items()},
    )


class _Builder:
    """Turns validated documents into DesiredObjects, remembering where each came from."""

    def __init__(self) -> None:
        self.state = DesiredState()
        self.raw: dict[tuple[Kind, Key], tuple[dict[str, Any], LocatedDocument, tuple[Any, ...]]] = {}

    def add_document(self, doc: LocatedDocument, problems: list[Problem]) -> None:
        for section, body in doc.data.items():
            kind = KIND_BY_SECTION.get(section)
            if kind is None or not isinstance(body, dict):
                continue
            if kind is Kind.JOB:
                for client, jobs in body.items():
                    for number, obj in (jobs or {}).items() if isinstance(jobs, dict) else ():
                        self._add(kind, (client, number), obj, doc, (section, client, number), problems)
            else:
                for key, obj in body.items():
                    natural = (normalise_email(key),) if kind is Kind.USER else (key,)
                    self._add(kind, natural, obj, doc, (section, key), problems)

    def _add(self, kind: Kind, key: Key, obj: Any, doc: LocatedDocument, path: tuple[Any, ...],
             problems: list[Problem]) -> None:
        where = doc.where(path, key=True)
        existing = self.state.objects[kind].get(key)
        if existing is not None:
            written = path[-1]
            if kind is Kind.USER and self.raw[(kind, key)][2][-1] != written:
                message = (f"user '{written}' differs only in case from '{self.raw[(kind, key)][2][-1]}' "
                           f"at {existing.where} (emails are case-insensitive)")
            else:
                message = f"{kind.value} '{format_key(key)}' is declared twice: also at {existing.where}"
            problems.append(Problem(where, message))
            return
        obj = obj if isinstance(obj, dict) else {}
        fields = {name: value for name, value in obj.items() if name in FIELD_BY_YAML[kind]}
        assignments: dict[str, frozenset[Key]] = {}
        if kind is Kind.JOB:
            for list_name, (target_kind, _) in ASSIGNMENTS.items():
                items = obj.get(list_name)
                if not isinstance(items, list):
                    continue
                keys: list[Key] = []
                for index, item in enumerate(items):
                    item_key = (normalise_email(item),) if target_kind is Kind.USER else (str(item),)
                    if item_key in keys:
                        problems.append(Problem(doc.where((*path, list_name, index)),
                                                f"{list_name}: '{item}' is listed twice"))
                    keys.append(item_key)
                assignments[list_name] = frozenset(keys)
        absent = obj.get("absent") is True
        if absent and (len(obj) > 1):
            others = ", ".join(sorted(set(obj) - {"absent"}))
            problems.append(Problem(where, f"absent: true deletes the object; it cannot also set {others}"))
        locations = {name: doc.where((*path, name)) for name in obj}
        self.state.objects[kind][key] = DesiredObject(kind, key, fields, where, absent, assignments, locations)
        self.raw[(kind, key)] = (obj, doc, path)

    def check(self, problems: list[Problem]) -> list[Reference]:
        """Cross-object rules. Returns references to undeclared objects (checked live at plan time)."""
        objects = self.state.objects
        self._unique_field(Kind.TASK, "name", "task name", problems, fold_case=True)
        self._unique_field(Kind.CLIENT, "client_number", "client number", problems, fold_case=False)
        dangling: list[Reference] = []

        def refer(kind: Kind, key: Key, where: Location, by: str) -> None:
            target = objects[kind].get(key)
            if target is None:
                dangling.append(Reference(kind, key, where, by))
            elif target.absent:
                problems.append(Problem(where, f"{by} refers to {kind.value} '{format_key(key)}', "
                                               f"which is marked absent: true at {target.where}"))

        for job in objects[Kind.JOB].values():
            label = f"job '{format_key(job.key)}'"
            client = objects[Kind.CLIENT].get(job.key[:1])
            if not job.absent:
                refer(Kind.CLIENT, job.key[:1], job.where, label)
            if client and not job.absent and client.fields.get("active") is False and job.fields.get("active") is True:
                problems.append(Problem(job.field_locations.get("active", job.where),
                                        f"{label} is declared active but its client '{job.key[0]}' is declared "
                                        "inactive, and deactivating a client deactivates its jobs"))
            for list_name, (target_kind, _) in ASSIGNMENTS.items():
                for target in sorted(job.assignments.get(list_name, ())):
                    refer(target_kind, target, job.field_locations[list_name], f"{label} {list_name}")
        for obj in self.state.all():
            if obj.absent and obj.kind in UNDELETABLE:
                problems.append(Problem(obj.field_locations.get("absent", obj.where),
                                        f"ClickTime cannot delete {obj.kind.section}; use active: false instead"))
            for name, value in obj.fields.items():
                spec = FIELD_BY_YAML[obj.kind][name]
                if spec.ref is not None and isinstance(value, str) and not obj.absent:
                    refer(spec.ref, ref_key(spec.ref, value), obj.field_locations[name],
                          f"{obj.kind.value} '{format_key(obj.key)}' {name}")
            start, end = obj.fields.get("start_date"), obj.fields.get("end_date")
            if isinstance(start, str) and isinstance(end, str) and end < start:
                problems.append(Problem(obj.field_locations["end_date"],
                                        f"end_date {end} is before start_date {start}"))
        return dangling

    def _unique_field(self, kind: Kind, name: str, label: str, problems: list[Problem], fold_case: bool) -> None:
        seen: dict[str, DesiredObject] = {}
        for obj in self.state.objects[kind].values():
            value = obj.fields.get(name)
            if not isinstance(value, str) or not value or obj.absent:
                continue
            folded = value.casefold() if fold_case else value
            if folded in seen:
                first = seen[folded]
                problems.append(Problem(obj.field_locations[name],
                                        f"{kind.value} '{format_key(obj.key)}' has the same {label} '{value}' as "
                                        f"{kind.value} '{format_key(first.key)}' at {first.field_locations[name]}; "
                                        f"ClickTime requires {label}s to be unique"))
            else:
                seen[folded] = obj
