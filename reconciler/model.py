"""Kinds, natural keys and the one table mapping YAML field names to ClickTime API fields.

Identity is the natural key, never a ClickTime ID: a client is its ShortName, a job its
(client ShortName, JobNumber), a task its TaskCode, a user its Email (compared case-insensitively).
Keys are tuples so that a job's two parts never need escaping; `format_key` is for people.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from reconciler.clicktime.keys import NATURAL_KEYS
from reconciler.errors import Location


class Kind(str, Enum):
    DIVISION = "division"
    EMPLOYMENT_TYPE = "employment_type"
    CLIENT = "client"
    TASK = "task"
    USER = "user"
    JOB = "job"

    @property
    def section(self) -> str:
        """The YAML top-level section."""
        return self.value + "s"

    @property
    def collection(self) -> str:
        return COLLECTIONS[self]


COLLECTIONS = {Kind.DIVISION: "Divisions", Kind.EMPLOYMENT_TYPE: "EmploymentTypes", Kind.CLIENT: "Clients",
               Kind.TASK: "Tasks", Kind.USER: "Users", Kind.JOB: "Jobs"}
# Creation order: what a kind references comes before it (users name divisions and employment
# types; jobs name clients and users).
KINDS: tuple[Kind, ...] = (Kind.DIVISION, Kind.EMPLOYMENT_TYPE, Kind.CLIENT, Kind.TASK, Kind.USER, Kind.JOB)
# Kinds ClickTime cannot delete (no DELETE endpoint): deactivate them instead.
UNDELETABLE: frozenset[Kind] = frozenset({Kind.DIVISION, Kind.EMPLOYMENT_TYPE})
KIND_BY_SECTION: dict[str, Kind] = {k.section: k for k in KINDS}

Key = tuple[str, ...]


def format_key(key: Key) -> str:
    return "/".join(key)


def parse_key(kind: Kind, text: str) -> Key:
    if kind is Kind.JOB:
        client, _, number = text.partition("/")
        return (client, number)
    return (normalise_email(text),) if kind is Kind.USER else (text,)


def normalise_email(email: str) -> str:
    return email.strip().lower()


class FieldType(str, Enum):
    STRING = "string"
    BOOL = "bool"
    DATE = "date"
    REF = "ref"  # another object's natural key in YAML, its ID in the API
    SECURITY_LEVEL = "security_level"  # lower-case in YAML, upper-case in the API
    MAP = "map"


@dataclass(frozen=True)
class FieldSpec:
    yaml: str
    api: str
    type: FieldType = FieldType.STRING
    max_length: int | None = None
    create_only: bool = False  # accepted by POST, absent from every PATCH model
    ref: Kind | None = None  # for REF fields: the kind referred to


_COMMON_TEXT = (
    FieldSpec("notes", "Notes"),
    FieldSpec("accounting_package_id", "AccountingPackageID"),
    FieldSpec("custom_fields", "CustomFields", FieldType.MAP),
)

# The managed fields of each kind (besides the natural key and the assignment lists).
FIELDS: dict[Kind, tuple[FieldSpec, ...]] = {
    Kind.CLIENT: (
        FieldSpec("name", "Name", max_length=50),
        FieldSpec("client_number", "ClientNumber"),
        FieldSpec("active", "IsActive", FieldType.BOOL),
        *_COMMON_TEXT,
    ),
    Kind.TASK: (
        FieldSpec("name", "Name", max_length=50),
        FieldSpec("active", "IsActive", FieldType.BOOL),
        FieldSpec("billable", "IsBillable", FieldType.BOOL),
        *_COMMON_TEXT,
    ),
    Kind.USER: (
        FieldSpec("name", "Name", max_length=50),
        FieldSpec("active", "IsActive", FieldType.BOOL),
        FieldSpec("security_level", "SecurityLevel", FieldType.SECURITY_LEVEL, create_only=True),
        FieldSpec("employee_number", "EmployeeNumber"),
        FieldSpec("role", "Role"),
        FieldSpec("start_date", "StartDate", FieldType.DATE),
        FieldSpec("end_date", "EndDate", FieldType.DATE),
        FieldSpec("notes", "Notes"),
        FieldSpec("custom_fields", "CustomFields", FieldType.MAP),
        FieldSpec("division", "DivisionID", FieldType.REF, ref=Kind.DIVISION),
        FieldSpec("employment_type", "EmploymentTypeID", FieldType.REF, ref=Kind.EMPLOYMENT_TYPE),
    ),
    Kind.JOB: (
        FieldSpec("name", "Name", max_length=50),
        FieldSpec("active", "IsActive", FieldType.BOOL),
        FieldSpec("billable", "IsBillable", FieldType.BOOL),
        FieldSpec("start_date", "StartDate", FieldType.DATE),
        FieldSpec("end_date", "EndDate", FieldType.DATE),
        FieldSpec("project_manager", "ProjectManagerID", FieldType.REF, ref=Kind.USER),
        FieldSpec("time_requires_approval", "TimeRequiresApproval", FieldType.BOOL),
        *_COMMON_TEXT,
    ),
}
FIELDS[Kind.DIVISION] = (
    FieldSpec("active", "IsActive", FieldType.BOOL),
    *_COMMON_TEXT,
)
FIELDS[Kind.EMPLOYMENT_TYPE] = (
    FieldSpec("active", "IsActive", FieldType.BOOL),
    FieldSpec("notes", "Notes"),
    FieldSpec("accounting_package_id", "AccountingPackageID"),
)
FIELD_BY_YAML: dict[Kind, dict[str, FieldSpec]] = {
    kind: {spec.yaml: spec for spec in specs} for kind, specs in FIELDS.items()
}

# The natural key's API fields, written on create (the one table: clicktime/keys.py).
KEY_FIELDS: dict[Kind, tuple[str, ...]] = {kind: NATURAL_KEYS[COLLECTIONS[kind]] for kind in KINDS}

# Job assignment lists: YAML name -> (referenced kind, API sub-collection).
ASSIGNMENTS: dict[str, tuple[Kind, str]] = {"tasks": (Kind.TASK, "Tasks"), "users": (Kind.USER, "Users")}


@dataclass(frozen=True)
class DesiredObject:
    """One object as the configuration declares it; `fields` hold only what it manages."""

    kind: Kind
    key: Key
    fields: Mapping[str, Any]
    where: Location
    absent: bool = False
    assignments: Mapping[str, frozenset[Key]] = field(default_factory=dict)
    field_locations: Mapping[str, Location] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveObject:
    """One object as the account holds it: its ID, the raw API record and YAML-level fields."""

    kind: Kind
    key: Key
    id: str
    record: Mapping[str, Any]
    fields: Mapping[str, Any]

    @property
    def active(self) -> bool:
        return bool(self.record.get("IsActive", True))


@dataclass
class LiveState:
    objects: dict[Kind, dict[Key, LiveObject]] = field(default_factory=lambda: {k: {} for k in KINDS})
    # job key -> assignment list name -> referenced keys; only for jobs whose lists were read
    assignments: dict[Key, dict[str, frozenset[Key]]] = field(default_factory=dict)
    assignment_ids: dict[Key, dict[str, frozenset[str]]] = field(default_factory=dict)  # the same, as IDs
    company: Mapping[str, Any] = field(default_factory=dict)
    me: Mapping[str, Any] = field(default_factory=dict)  # the user the API token acts as
    # records the reconciler cannot key (a job without a client): counted, never touched
    unkeyed: dict[Kind, int] = field(default_factory=dict)
    # custom-field definitions (API records) of the kinds whose definitions were read
    custom_fields: dict[Kind, list[Mapping[str, Any]]] = field(default_factory=dict)
    # kinds the account cannot hold (a module it lacks), and why: never listed
    unavailable: dict[Kind, str] = field(default_factory=dict)
    # what the reading had to do differently (e.g. fall back to per-job assignment reads), for the plan's warnings
    notes: list[str] = field(default_factory=list)

    def id_of(self, kind: Kind, key: Key) -> str | None:
        obj = self.objects[kind].get(key)
        return obj.id if obj else None


@dataclass
class DesiredState:
    objects: dict[Kind, dict[Key, DesiredObject]] = field(default_factory=lambda: {k: {} for k in KINDS})

    def all(self) -> Iterable[DesiredObject]:
        for kind in KINDS:
            yield from self.objects[kind].values()


KeyById = Mapping[Kind, Mapping[str, Key]]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def api_to_yaml_value(spec: FieldSpec, value: Any, key_by_id: KeyById) -> Any:
    if value is None:
        return None
    if spec.type is FieldType.REF:
        assert spec.ref is not None
        found = key_by_id.get(spec.ref, {}).get(value) if value else None
        return format_key(found) if found else (f"<unknown {spec.ref.value} {value}>" if value else None)
    if spec.type is FieldType.SECURITY_LEVEL:
        return str(value).lower()
    if spec.type is FieldType.STRING and value == "":
        return None
    if spec.type is FieldType.DATE:
        return plain_date(value)
    return value


def plain_date(value: Any) -> Any:
    """ClickTime's dates are plain strings in the spec; some answers carry a time of day
    (`2025-02-03T00:00:00`). The date is what is managed: compare and write `2025-02-03`."""
    if isinstance(value, str) and len(value) > 10 and value[10] in "T " and _ISO_DATE.match(value):
        return value[:10]
    return value


def same_scalar(desired: Any, live: Any) -> bool:
    """Equal as values: numbers may come back as numbers or as strings, 5 and 5.0 and "5.00" alike."""
    if desired == live:
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    from decimal import Decimal, InvalidOperation  # loaded only when values differ as written

    try:
        return Decimal(str(desired)) == Decimal(str(live))
    except (InvalidOperation, ValueError):
        return False


def ref_key(kind: Kind, text: str) -> Key:
    """The natural key a reference names (emails compare case-insensitively)."""
    return (normalise_email(text),) if kind is Kind.USER else (text,)


def yaml_to_api_value(spec: FieldSpec, value: Any, resolve: Callable[[Kind, Key], str]) -> Any:
    """`resolve` turns a referenced object's natural key into its ID."""
    if value is None:
        return None
    if spec.type is FieldType.REF:
        assert spec.ref is not None
        return resolve(spec.ref, ref_key(spec.ref, value))
    if spec.type is FieldType.SECURITY_LEVEL:
        return str(value).upper()
    return value


def values_equal(spec: FieldSpec, desired: Any, live: Any) -> bool:
    """Equality as ClickTime means it: "" and null are the same text; emails ignore case;
    custom fields compare only the keys the configuration declares."""
    if spec.type is FieldType.STRING:
        return (desired or None) == (live or None)
    if spec.type is FieldType.REF:
        assert spec.ref is not None
        return (ref_key(spec.ref, desired) if desired else None) == (ref_key(spec.ref, live) if live else None)
    if spec.type is FieldType.MAP:
        wanted = desired or {}
        current = {k: (live or {}).get(k) for k in wanted}
        if wanted == current:
            return True
        return all(same_scalar(v, current[k]) if not isinstance(v, dict | list) else _same_structure(v, current[k])
                   for k, v in wanted.items())
    if spec.type is FieldType.DATE:
        return bool(plain_date(desired) == plain_date(live))
    return bool(desired == live)


def _same_structure(desired: Any, live: Any) -> bool:
    # Decimals have come back as ints or floats over time: 5 and 5.0 are the same value.
    from deepdiff import DeepDiff  # loaded only when a structured value differs

    differences: dict[str, Any] = DeepDiff(desired, live, ignore_numeric_type_changes=True)
    return not differences


def live_fields(kind: Kind, record: Mapping[str, Any], key_by_id: KeyById,
                supported: frozenset[str] = frozenset()) -> dict[str, Any]:
    """YAML-level fields of a live record. A field the answer leaves out is unset when the
    account supports it (`supported`: the API fields of the kind's /new template); otherwise it
    stays absent: permission- and module-dependent fields are not empty just because they are missing."""
    fields = {}
    for spec in FIELDS[kind]:
        if spec.api in record:
            value = record[spec.api]
            if spec.type is FieldType.STRING:  # most fields, inline: api_to_yaml_value's first rule for text
                fields[spec.yaml] = None if value == "" else value
            else:
                fields[spec.yaml] = api_to_yaml_value(spec, value, key_by_id)
        elif spec.api in supported:
            fields[spec.yaml] = None
    return fields
