"""`reconciler scaffold`: turn a spreadsheet export (CSV with a header row) into configuration YAML.

Columns are named after the YAML fields (case and spaces do not matter: "Job Number" is
job_number), plus the key columns of the kind (a job's `client` and `job_number`, a client's
`short_name`, a user's `email`). List columns (`tasks`, `users`) take values separated by `;`.
Every problem is reported at once, with the CSV row (and column) it comes from.

The spreadsheet may come from anyone. Records end only where CSV says a line ends (a record
separator or U+2028 inside a cell is text), a quoted cell keeps its line breaks, keys must be
plainly visible text, and a cell that a spreadsheet would run as a formula is warned about.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.config.chars import nfc, visible
from reconciler.config.loader import odd_key
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
FORMULA_STARTS = "=+-@"
NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter when PyYAML has it (several times faster); multi-line text as a block."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # the emitter falls back to a quoted style when the text cannot be a block
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


Dumper.add_representer(str, _text)


@dataclass(frozen=True)
class ScaffoldResult:
    document: dict[str, Any]
    count: int
    warnings: tuple[Problem, ...] = ()  # cells a spreadsheet would run as formulas


def column_name(header: str) -> str:
    name = "_".join(header.strip().lower().replace("-", " ").split())
    return ALIASES.get(name, name)


def read_rows(csv_path: Path) -> list[tuple[int, list[str]]]:
    """(line where the record starts, cells) for every CSV record. The csv module reads the
    file itself, so records end only at CSV line ends, never at U+2028 or a record separator
    inside a cell, and a quoted cell keeps its line breaks (as \\n)."""
    display = str(csv_path)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        with csv_path.open(encoding="utf-8-sig", newline="") as file:  # exports often start with a BOM
            reader = csv.reader(file)
            for row in reader:
                rows.append((start, [cell.replace("\r\n", "\n").replace("\r", "\n") for cell in row]))
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(Location(display), visible(f"cannot read the CSV file: {error}"))]) from None
    except csv.Error as error:
        raise ConfigError([Problem(Location(display, start, 1), f"not a valid CSV record: {error}")]) from None
    return rows


def scaffold(csv_path: Path, kind: Kind, template: str | None = None) -> ScaffoldResult:
    display = str(csv_path)
    problems: list[Problem] = []
    records = read_rows(csv_path)
    if not records:
        raise ConfigError([Problem(Location(display), "the CSV file is empty; it needs a header row")])
    written_header = records[0][1]
    header = [column_name(h) for h in written_header]
    allowed = [*KEY_COLUMNS[kind], *FIELD_BY_YAML[kind], *(ASSIGNMENTS if kind is Kind.JOB else ())]
    for index, name in enumerate(header, 1):
        if name not in allowed:
            hint = difflib.get_close_matches(name, allowed, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known columns: {', '.join(allowed)})"
            written = written_header[index - 1]
            problems.append(Problem(Location(display, 1, index), f"unknown column '{written}'{suggestion}"))
    for needed in KEY_COLUMNS[kind]:
        if needed not in header:
            problems.append(Problem(Location(display, 1, 1), f"missing column '{needed}'"))
    if problems:
        raise _error(problems)

    located = LocatedDocument(display, {kind.section: {}})
    section: dict[str, Any] = located.data[kind.section]
    first_row: dict[tuple[str, ...], int] = {}
    warnings: list[Problem] = []
    for line, row in records[1:]:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            problems.append(Problem(Location(display, line, len(header) + 1),
                                    f"row has {len(row)} cells but the header names {len(header)} columns"))
            continue
        cells = {name: row[i].strip() if i < len(row) else "" for i, name in enumerate(header)}
        warnings += _formulas(cells, header, display, line)
        key = tuple(cells[c] for c in KEY_COLUMNS[kind])
        if not all(key):
            missing = [c for c, v in zip(KEY_COLUMNS[kind], key, strict=True) if not v]
            problems.append(Problem(Location(display, line, header.index(missing[0]) + 1),
                                    f"{missing[0]} is empty"))
            continue
        odd = [odd_key(column, cells[column], _at(display, line, header.index(column) + 1), problems)
               for column in KEY_COLUMNS[kind]]
        if any(odd):
            continue
        key = tuple(nfc(part) for part in key)
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
        raise _error(problems)
    return ScaffoldResult(located.data, len(first_row), tuple(warnings))


def _error(problems: list[Problem]) -> ConfigError:
    # messages quote cells: none may act on the terminal that shows them
    return ConfigError([Problem(p.where, visible(p.message)) for p in problems])


def _at(display: str, line: int, column: int) -> Callable[[], Location]:
    return lambda: Location(display, line, column)


def _formulas(cells: dict[str, str], header: list[str], display: str, line: int) -> list[Problem]:
    """Cells a spreadsheet would run as formulas should these values be exported to one again
    (from ClickTime or from the YAML): worth a look, though they may be meant as text."""
    return [Problem(Location(display, line, header.index(column) + 1),
                    f"{column} starts with '{value[0]}': a spreadsheet runs it as a formula if the value is "
                    "exported and opened again; make sure it is meant as text")
            for column, value in cells.items()
            if value[:1] and value[0] in FORMULA_STARTS and not NUMBER.fullmatch(value)]


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
    body = yaml.dump(result.document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    target.write_text(header + body, encoding="utf-8")
    return target
