"""Read a configuration directory into a DesiredState, collecting every problem at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from reconciler.config.chars import escaped, hidden_character, nfc, visible
from reconciler.config.desired import Configuration, Reference
from reconciler.config.files import find_files
from reconciler.config.schema import check_document
from reconciler.config.settings import SETTINGS_FILE, Settings, Threshold
from reconciler.config.yamlfile import LocatedDocument, parse_yaml_bytes, read_file_bytes
from reconciler.errors import ConfigError, Location, Problem
from reconciler.model import (
    ASSIGNMENTS,
    FIELD_BY_YAML,
    KIND_BY_SECTION,
    KINDS,
    UNDELETABLE,
    DesiredObject,
    DesiredState,
    Key,
    Kind,
    format_key,
    ref_key,
)
from reconciler.perf import without_gc

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REF_FIELDS = {kind: frozenset(name for name, spec in specs.items() if spec.ref is not None)
              for kind, specs in FIELD_BY_YAML.items()}


def _where(obj: DesiredObject) -> Location:
    return obj.where


def _field_where(obj: DesiredObject, name: str) -> Location:
    return obj.field_locations[name]


def _entry_where(job: DesiredObject, list_name: str, entry: Key) -> Location:
    locations = job.field_locations
    return locations.item(list_name, entry) if isinstance(locations, FieldLocations) else job.where


def _key_at(doc: LocatedDocument, path: tuple[Any, ...]) -> Callable[[], Location]:
    return lambda: doc.where(path, key=True)


def odd_key(what: str, text: str, where: Callable[[], Location], problems: list[Problem], prefix: str = "",
            label: bool = True) -> bool:
    """Whether a natural key (or a reference to one) holds a character that is not plainly
    visible; if so, a problem. Such a key could pass for another one: `ACME` and `AC\u200bME`.
    Keys are compared after NFC normalisation, which folds the other kind of look-alike."""
    odd = hidden_character(text)
    if odd is None and text.strip(" ") == text:
        return False
    shown = f"{what}{' ' if label else ': '}'{escaped(f'{prefix}/{text}' if prefix else text)}'"
    if odd is None:
        problems.append(Problem(where(), f"{shown} begins or ends with a space, which would make it look like "
                                         "another key"))
    else:
        problems.append(Problem(where(), f"{shown} contains {odd}, which is invisible or a control character; "
                                         "keys must be plainly visible text"))
    return True


def _is_date(value: Any) -> bool:
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return len(value) == 10


def discover(root: Path) -> list[Path]:
    """The configuration files below root, without the settings (see files.find_files)."""
    return [path for path in find_files(root)[0] if path.relative_to(root).as_posix() != SETTINGS_FILE]


@without_gc
def load_configuration(root: Path | str, require_declared: bool = False) -> Configuration:
    """Load and check a configuration directory; raise ConfigError listing every problem.

    `require_declared`: references to objects the configuration does not declare are problems
    too (offline validation); otherwise they are returned for the plan to check live."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError([Problem(Location(str(root)), "configuration directory not found")])
    found, problems = find_files(root)
    digest = hashlib.sha256()
    settings = Settings()
    files = [path for path in found if path.relative_to(root).as_posix() != SETTINGS_FILE]
    if len(files) < len(found):
        data, read_problems = read_file_bytes(root / SETTINGS_FILE, str(root / SETTINGS_FILE))
        problems += read_problems
        if data is not None:
            digest.update(b"settings\0" + data)
            settings = _load_settings(data, str(root / SETTINGS_FILE), problems)
    builder = _Builder()
    for path in files:
        display = str(path)
        data, read_problems = read_file_bytes(path, display)
        problems += read_problems
        if data is None:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + data)
        if path.name == SETTINGS_FILE:
            problems.append(Problem(Location(display), f"settings are read only from the configuration root: "
                                                       f"move this file to {root / SETTINGS_FILE}"))
            continue
        document, file_problems = parse_yaml_bytes(data, display)
        problems += file_problems
        if document is None:
            continue
        schema_problems = check_document(document, "config.schema.json")
        problems += schema_problems
        if isinstance(document.data, dict):
            builder.add_document(document, problems)
    if not files and not problems:
        problems.append(Problem(Location(str(root)), "no *.yaml files found"))
    builder.expand(problems)
    dangling = builder.check(problems)
    if require_declared:
        problems += [reference.problem() for reference in dangling]
    if problems:
        # messages quote keys and values: none may act on the terminal that shows them
        raise ConfigError([Problem(p.where, visible(p.message)) for p in problems])
    return Configuration(root, settings, builder.state, dangling, digest.hexdigest(), [str(p) for p in files])


def load_settings(root: Path) -> Settings:
    """Only the settings file of a directory (defaults when it has none): for commands that write a
    configuration rather than read one (import)."""
    path = root / SETTINGS_FILE
    if not path.is_file() and not path.is_symlink():
        return Settings()
    problems: list[Problem] = []
    data, read_problems = read_file_bytes(path, str(path))
    problems += read_problems
    settings = _load_settings(data, str(path), problems) if data is not None else Settings()
    if problems:
        raise ConfigError([Problem(p.where, visible(p.message)) for p in problems])
    return settings


def _load_settings(raw: bytes, display: str, problems: list[Problem]) -> Settings:
    document, file_problems = parse_yaml_bytes(raw, display)
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
        protect={by_kind[s]: tuple(nfc(p) for p in v) for s, v in (data.get("protect") or {}).items()},
        ignore_fields={by_kind[s]: frozenset(v) for s, v in (data.get("ignore_fields") or {}).items()},
        thresholds={by_kind[s]: Threshold(**v) for s, v in (data.get("thresholds") or {}).items()},
    )


Source = tuple[LocatedDocument, tuple[Any, ...]]  # a document and the path of a mapping in it


class FieldLocations(Mapping[str, Location]):
    """Where each of an object's fields is written, looked up only when a message needs it."""

    def __init__(self, sources: dict[str, Source]) -> None:
        self._sources = sources

    def __getitem__(self, name: str) -> Location:
        doc, path = self._sources[name]
        return doc.where((*path, name))

    def entry(self, name: str, key: str, value: bool = False) -> Location:
        """Where one key of a mapping field (a custom field) is written, or its value with `value`."""
        if name not in self._sources:
            raise KeyError(name)
        doc, path = self._sources[name]
        return doc.where((*path, name, key), key=not value)

    def item(self, name: str, entry: Key) -> Location:
        """Where one entry of a list field (a job's tasks or users) is written."""
        doc, path = self._sources[name]
        values = doc.data
        for step in (*path, name):
            values = values.get(step) if isinstance(values, dict) else None
        for index, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, str) and entry[0] in (nfc(value), nfc(value).lower()):
                return doc.where((*path, name, index))
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


@dataclass
class _Pending:
    kind: Kind
    key: Key
    obj: dict[str, Any]
    source: Source


class _Builder:
    """Turns validated documents into DesiredObjects, remembering where each came from.

    Objects are collected first and expanded at the end, because `defaults:` and `templates:`
    may be declared in any file: a field's value comes from the object itself, else from its job
    template chain, else from the kind's defaults, and its location is where that value is written."""

    def __init__(self) -> None:
        self.state = DesiredState()
        self.written_keys: dict[tuple[Kind, Key], str] = {}
        self.pending: list[_Pending] = []
        self.templates: dict[str, tuple[dict[str, Any], Source]] = {}
        self.defaults: dict[Kind, tuple[dict[str, Any], Source]] = {}

    def add_document(self, doc: LocatedDocument, problems: list[Problem]) -> None:
        for section, body in doc.data.items():
            if not isinstance(body, dict):
                continue
            if section == "templates":
                for name, obj in body.items():
                    self._remember(self.templates, name, obj, doc, (section, name), "template", problems)
                continue
            if section == "defaults":
                for kind_section, obj in body.items():
                    if isinstance(obj, dict) and "template" in obj:
                        problems.append(Problem(doc.where((section, kind_section, "template")), "template: defaults "
                                                "cannot name a template; set it on each job instead"))
                    if kind_section in KIND_BY_SECTION:
                        self._remember(self.defaults, KIND_BY_SECTION[kind_section], obj, doc,
                                       (section, kind_section), "defaults for", problems)
                continue
            kind = KIND_BY_SECTION.get(section)
            if kind is None:
                continue
            if kind is Kind.JOB:
                for client, jobs in body.items():
                    if odd_key("client", client, _key_at(doc, (section, client)), problems):
                        continue
                    for number, obj in (jobs or {}).items() if isinstance(jobs, dict) else ():
                        path = (section, client, number)
                        if not odd_key("job", number, _key_at(doc, path), problems, prefix=client):
                            self._collect(kind, (nfc(client), nfc(number)), number, obj, doc, path, problems)
            else:
                for key, obj in body.items():
                    if not odd_key(kind.value, key, _key_at(doc, (section, key)), problems):
                        self._collect(kind, ref_key(kind, nfc(key)), key, obj, doc, (section, key), problems)

    @staticmethod
    def _remember(table: dict[Any, tuple[dict[str, Any], Source]], name: Any, obj: Any, doc: LocatedDocument,
                  path: tuple[Any, ...], label: str, problems: list[Problem]) -> None:
        where = doc.where(path, key=True)
        if name in table:
            first = table[name][1]
            problems.append(Problem(where, f"{label} '{getattr(name, 'section', name)}' is declared twice: "
                                           f"also at {first[0].where(first[1], key=True)}"))
            return
        table[name] = (obj if isinstance(obj, dict) else {}, (doc, path))

    def _collect(self, kind: Kind, key: Key, written: str, obj: Any, doc: LocatedDocument, path: tuple[Any, ...],
                 problems: list[Problem]) -> None:
        where = doc.where(path, key=True)
        if (kind, key) in self.written_keys:
            first = next(p for p in self.pending if p.kind is kind and p.key == key)
            first_where = first.source[0].where(first.source[1], key=True)
            if kind is Kind.USER and self.written_keys[(kind, key)] != written:
                message = (f"user '{written}' differs only in case from '{self.written_keys[(kind, key)]}' "
                           f"at {first_where} (emails are case-insensitive)")
            else:
                message = f"{kind.value} '{format_key(key)}' is declared twice: also at {first_where}"
            problems.append(Problem(where, message))
            return
        self.written_keys[(kind, key)] = written
        self.pending.append(_Pending(kind, key, obj if isinstance(obj, dict) else {}, (doc, path)))

    def expand(self, problems: list[Problem]) -> None:
        """Merge defaults and templates into every collected object and build the DesiredState."""
        chains: dict[str, list[tuple[dict[str, Any], Source]]] = {}
        self._reported_cycles: set[frozenset[str]] = set()
        for name, (values, source) in self.templates.items():  # check templates no job uses, too
            self._chain(name, _Pending(Kind.JOB, (), values, source), chains, problems)
        for item in self.pending:
            merged: dict[str, tuple[Any, Source]] = {}
            absent = item.obj.get("absent") is True
            if not absent:
                layers = [self.defaults[item.kind]] if item.kind in self.defaults else []
                template = item.obj.get("template")
                if isinstance(template, str) and template:
                    chain = self._chain(template, item, chains, problems)
                    layers += chain
                for values, source in layers:
                    for name, value in values.items():
                        if name != "template":
                            merged[name] = (value, source)
            for name, value in item.obj.items():
                if name != "template":
                    merged[name] = (value, item.source)
            self._add(item, merged, problems)

    def _chain(self, name: str, item: _Pending, chains: dict[str, list[tuple[dict[str, Any], Source]]],
               problems: list[Problem]) -> list[tuple[dict[str, Any], Source]]:
        """A template's layers, base first. Unknown names and cycles are problems."""
        doc, path = item.source
        if name in chains:
            return chains[name]
        seen: list[str] = []
        layers: list[tuple[dict[str, Any], Source]] = []
        current: Any = name
        while isinstance(current, str):
            if current not in self.templates:
                where = doc.where((*path, "template")) if current == name else \
                    self.templates[seen[-1]][1][0].where((*self.templates[seen[-1]][1][1], "template"))
                known = ", ".join(sorted(self.templates)) or "none declared"
                problems.append(Problem(where, f"template '{current}' is declared nowhere (templates: {known})"))
                break
            if current in seen:
                cycle = seen[seen.index(current):] + [current]
                chains[name] = []
                if frozenset(cycle) in self._reported_cycles:
                    return []
                self._reported_cycles.add(frozenset(cycle))
                places = "; ".join(f"'{t}' at {self.templates[t][1][0].where(self.templates[t][1][1], key=True)}"
                                   for t in cycle[:-1])
                first = self.templates[cycle[0]][1]
                problems.append(Problem(first[0].where(first[1], key=True),
                                        f"templates build on each other in a cycle: {' -> '.join(cycle)} ({places})"))
                layers = []
                break
            seen.append(current)
            values, source = self.templates[current]
            layers.insert(0, (values, source))
            current = values.get("template")
        chains[name] = layers
        return layers

    def _add(self, item: _Pending, merged: dict[str, tuple[Any, Source]], problems: list[Problem]) -> None:
        kind, key = item.kind, item.key
        where = item.source[0].where(item.source[1], key=True)

        def locate(name: str, *rest: Any) -> Location:
            doc, path = merged[name][1]
            return doc.where((*path, name, *rest))

        fields = {name: value for name, (value, _) in merged.items() if name in FIELD_BY_YAML[kind]}
        for name in REF_FIELDS[kind].intersection(fields):
            value = fields[name]
            if isinstance(value, str) and not odd_key(name, value, partial(locate, name), problems, label=False):
                fields[name] = nfc(value)
        assignments: dict[str, frozenset[Key]] = {}
        if kind is Kind.JOB:
            for list_name, (target_kind, _) in ASSIGNMENTS.items():
                items = merged.get(list_name, (None, None))[0]
                if not isinstance(items, list):
                    continue
                keys: list[Key] = []
                for index, entry in enumerate(items):
                    if odd_key(list_name, str(entry), partial(locate, list_name, index), problems, label=False):
                        continue
                    entry_key = ref_key(target_kind, nfc(str(entry)))
                    if entry_key in keys:
                        problems.append(Problem(locate(list_name, index), f"{list_name}: '{entry}' is listed twice"))
                    keys.append(entry_key)
                assignments[list_name] = frozenset(keys)
        absent = item.obj.get("absent") is True
        if absent and len(item.obj) > 1:
            others = ", ".join(sorted(set(item.obj) - {"absent"}))
            problems.append(Problem(where, f"absent: true deletes the object; it cannot also set {others}"))
        locations = FieldLocations({name: source for name, (_, source) in merged.items()})
        self.state.objects[kind][key] = DesiredObject(kind, key, fields, where, absent, assignments, locations)

    def check(self, problems: list[Problem]) -> list[Reference]:
        """Cross-object rules. Returns references to undeclared objects (checked live at plan time)."""
        objects = self.state.objects
        self._unique_field(Kind.TASK, "name", "task name", problems, fold_case=True)
        self._unique_field(Kind.CLIENT, "client_number", "client number", problems, fold_case=False)
        dangling: list[Reference] = []

        def refer(kind: Kind, key: Key, locate: Callable[[], Location], by: str) -> None:
            target = objects[kind].get(key)
            if target is None:
                dangling.append(Reference(kind, key, locate, by))
            elif target.absent:
                problems.append(Problem(locate(), f"{by} refers to {kind.value} '{format_key(key)}', "
                                                  f"which is marked absent: true at {target.where}"))

        for job in objects[Kind.JOB].values():
            label = f"job '{format_key(job.key)}'"
            client = objects[Kind.CLIENT].get(job.key[:1])
            if not job.absent:
                refer(Kind.CLIENT, job.key[:1], partial(_where, job), label)
            if client and not job.absent and client.fields.get("active") is False and job.fields.get("active") is True:
                problems.append(Problem(job.field_locations.get("active", job.where),
                                        f"{label} is declared active but its client '{job.key[0]}' is declared "
                                        "inactive, and deactivating a client deactivates its jobs"))
            for list_name, (target_kind, _) in ASSIGNMENTS.items():
                for target in sorted(job.assignments.get(list_name, ())):
                    if target_kind is Kind.USER and not EMAIL.match(target[0]):
                        continue  # reported as a malformed email
                    refer(target_kind, target, partial(_entry_where, job, list_name, target), f"{label} {list_name}")
        for obj in self.state.all():
            if obj.absent and obj.kind in UNDELETABLE:
                problems.append(Problem(obj.field_locations.get("absent", obj.where),
                                        f"ClickTime cannot delete {obj.kind.section}; use active: false instead"))
            for name, value in obj.fields.items():
                spec = FIELD_BY_YAML[obj.kind][name]
                if spec.ref is not None and isinstance(value, str) and not obj.absent and (
                        spec.ref is not Kind.USER or EMAIL.match(value)):  # a malformed email is reported as that
                    refer(spec.ref, ref_key(spec.ref, value), partial(_field_where, obj, name),
                          f"{obj.kind.value} '{format_key(obj.key)}' {name}")
            start, end = obj.fields.get("start_date"), obj.fields.get("end_date")
            if isinstance(start, str) and isinstance(end, str) and _is_date(start) and _is_date(end) and end < start:
                problems.append(Problem(obj.field_locations["end_date"],
                                        f"end_date {end} is before start_date {start}"))
        return dangling

    def _unique_field(self, kind: Kind, name: str, label: str, problems: list[Problem], fold_case: bool) -> None:
        seen: dict[str, DesiredObject] = {}
        for obj in self.state.objects[kind].values():
            value = obj.fields.get(name)
            if not isinstance(value, str) or not value or obj.absent or "${" in value:
                continue  # an unset variable is reported where it is written
            folded = value.casefold() if fold_case else value
            if folded in seen:
                first = seen[folded]
                problems.append(Problem(obj.field_locations[name],
                                        f"{kind.value} '{format_key(obj.key)}' has the same {label} '{value}' as "
                                        f"{kind.value} '{format_key(first.key)}' at {first.field_locations[name]}; "
                                        f"ClickTime requires {label}s to be unique"))
            else:
                seen[folded] = obj
