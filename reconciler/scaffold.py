"""`reconciler scaffold`: turn a spreadsheet export (CSV with a header row) into configuration YAML.

Columns are named after the YAML fields (case and spaces do not matter: "Job Number" is
job_number), plus the key columns of the kind (a job's `client` and `job_number`, a client's
`short_name`, a user's `email`). List columns (`tasks`, `users`) take values separated by `;`.
Every problem is reported at once, with the CSV row (and column) it comes from.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.config.schema import check_document
from reconciler.config.yamlfile import LocatedDocument
from reconciler.errors import ConfigError, Location, Problem
from reconciler.model import ASSIGNMENTS, FIELD_BY_YAML, FieldType, Kind, normalise_email

KEY_COLUMNS: dict[Kind, tuple[str, ...]] = {
    Kind.JOB: ("client", "job_number"),
    Kind.CLIENT: ("short_name",),
    Kind.USER: ("email",),
    Kind.TASK: ("task_code",),
}
ALIASES = {"jobnumber": "job_number", "number": "job_number", "project_number": "job_number",
           "client_short_name": "client", "shortname": "short_name", "taskcode": "task_code",
           "project_manager_email": "project_manager", "is_active": "active", "is_billable": "billable"}
TRUE, FALSE = {"true", "yes", "y", "1", "x"}, {"false", "no", "n", "0", ""}


@dataclass(frozen=True)
class ScaffoldResult:
    document: dict[str, Any]
    count: int


def column_name(header: str) -> str:
    name = "_".join(header.strip().lower().replace("-", " ").split())
    return ALIASES.get(name, name)


def scaffold(csv_path: Path, kind: Kind, template: str | None = None) -> ScaffoldResult:
    display = str(csv_path)
    problems: list[Problem] = []
    try:
        text = csv_path.read_text(encoding="utf-8-sig")  # spreadsheet exports often start with a BOM
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(Location(display), f"cannot read the CSV file: {error}")])
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise ConfigError([Problem(Location(display), "the CSV file is empty; it needs a header row")])
    header = [column_name(h) for h in rows[0]]
    allowed = [*KEY_COLUMNS[kind], *FIELD_BY_YAML[kind], *(ASSIGNMENTS if kind is Kind.JOB else ())]
    for index, name in enumerate(header, 1):
        if name not in allowed:
            hint = difflib.get_close_matches(name, allowed, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known columns: {', '.join(allowed)})"
            problems.append(Problem(Location(display, 1, index), f"unknown column '{rows[0][index - 1]}'{suggestion}"))
    for needed in KEY_COLUMNS[kind]:
        if needed not in header:
            problems.append(Problem(Location(display, 1, 1), f"missing column '{needed}'"))
    if problems:
        raise ConfigError(problems)

    located = LocatedDocument(display, {kind.section: {}})
    section: dict[str, Any] = located.data[kind.section]
    first_row: dict[tuple[str, ...], int] = {}
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            problems.append(Problem(Location(display, line, len(header) + 1),
                                    f"row has {len(row)} cells but the header names {len(header)} columns"))
            continue
        cells = {name: row[i].strip() if i < len(row) else "" for i, name in enumerate(header)}
        key = tuple(cells[c] for c in KEY_COLUMNS[kind])
        if not all(key):
            missing = [c for c, v in zip(KEY_COLUMNS[kind], key) if not v]
            problems.append(Problem(Location(display, line, header.index(missing[0]) + 1),
                                    f"{missing[0]} is empty"))
            continue
        identity = (normalise_email(key[0]),) if kind is Kind.USER else key
        if identity in first_row:
            problems.append(Problem(Location(display, line, 1), f"{'/'.join(key)} is already on row "
                                                                  f"{first_row[identity]}"))
            continue
        first_row[identity] = line
        body: dict[str, Any] = {"template": template} if template and kind is Kind.JOB else {}
        path: tuple[Any, ...] = (kind.section, *key)
        for column, value in cells.items():
            if column in KEY_COLUMNS[kind] or value == "":
                continue
            located.value_locations[(*path, column)] = Location(display, line, header.index(column) + 1)
            body[column] = _convert(kind, column, value, Location(display, line, header.index(column) + 1),
                                    problems)
        located.value_locations[path] = Location(display, line, 1)
        located.key_locations[path] = Location(display, line, 1)
        target = section.setdefault(key[0], {}) if kind is Kind.JOB else section
        target[key[-1]] = body
    problems += check_document(located, "config.schema.json")
    if problems:
        raise ConfigError(problems)
    return ScaffoldResult(located.data, len(first_row))


def _convert(kind: Kind, column: str, value: str, where: Location, problems: list[Problem]) -> Any:
    if column in ASSIGNMENTS:
        return [item.strip() for item in value.replace("|", ";").split(";") if item.strip()]
    spec = FIELD_BY_YAML[kind][column]
    if spec.type is FieldType.BOOL:
        lowered = value.lower()
        if lowered not in TRUE | FALSE:
            problems.append(Problem(where, f"{column}: {value!r} is not yes/no or true/false"))
        return lowered in TRUE
    if spec.type is FieldType.MAP:
        problems.append(Problem(where, f"{column} cannot come from a CSV column"))
    return value


def write_scaffold(result: ScaffoldResult, csv_path: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{csv_path.stem}.yaml"
    header = f"# Generated by `reconciler scaffold` from {csv_path.name}; edit freely.\n"
    target.write_text(header + yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True, width=100),
                      encoding="utf-8")
    return target
