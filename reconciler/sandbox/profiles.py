"""Account profiles: the kinds of ClickTime account the sandbox can be.

A profile is what differs between real accounts and changes what the API accepts: the company
settings (GET /Company), optional modules, custom-field definitions per kind, and emulator quirks.
Shipped profiles live in profiles/*.yaml next to this file; a user mirrors their own account by
writing the same YAML and passing its path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from reconciler.clicktime import assumptions as A
from reconciler.errors import ReconcilerError
from reconciler.sandbox.rules import CUSTOM_FIELD_KINDS, MODULES

# Shipped profiles: name -> one line. The literal registry is the list `--profile` accepts.
PROFILES: dict[str, str] = {
    "new-account": "ClickTime's documented defaults for a new account: list controls off, task controls "
                   "disabled, no optional modules, no custom fields, Job Approvals off",
    "bills-by-job": "Team plan: list controls by person and by job, billability by job, Job Approvals on, "
                    "an optional client custom field 'industry'",
    "corporate": "Corporate plan: divisions, list controls by person and by job, billability by task, "
                 "Job Approvals on, custom fields with a required job field 'cost_center'",
    "corporate-bills-by-job": "Corporate plan billing by job: divisions, list controls by person and by job, "
                              "billability by job, Job Approvals on, no custom fields",
}
DEFAULT_PROFILE = "bills-by-job"

DATA_TYPES = ("Text", "Number", "Date", "Pulldown", "Checkbox")
ENTITY_TYPES = {"Clients": "Client", "Jobs": "Job", "Tasks": "Task", "Users": "User", "Divisions": "Division"}
COMPANY_ENUMS: dict[str, tuple[Any, ...]] = {
    "BillableSetting": ("Job", "Task"),
    "JobRestrictionMethod": ("none", "myjobs", "bydivision", "byperson"),
    "TaskRestrictionMethod": ("byjob", "mytasks", A.TASK_CONTROLS_DISABLED),
    "EnableProjectApprovals": (True, False),
    "BillingRateModel": ("JOB", "USER", "TASK", "TASK_JOB", "TASK_USER", "USER_CLIENT", "USER_JOB"),
}
REQUIRED_COMPANY = ("BillableSetting", "JobRestrictionMethod", "TaskRestrictionMethod", "EnableProjectApprovals")
COMPANY_DEFAULTS: dict[str, Any] = {"Name": "Sandbox Company", "JobTermSingular": "Project",
                                    "BillingRateModel": A.DEFAULT_BILLING_RATE_MODEL}
_TOP_LEVEL = {"name", "description", "company", "optional_modules", "custom_fields", "quirks"}
# YAML keys of a definition; the API's own spelling is accepted too (for pasted answers).
_DEFINITION_KEYS = {"name": "Name", "display_name": "DisplayName", "data_type": "DataType",
                    "required": "IsRequired", "pulldown_values": "PulldownValues"}


@dataclass
class Quirks:
    """Deliberate departures from the documented behaviour, to test a client's fallbacks."""

    reverse_reads_disagree: bool = False  # GET /Jobs?UserID, /Users?JobID, /Tasks/{id}/Jobs miss the newest assignment
    put_merges: bool = False  # PUT /Jobs/{id}/Tasks|Users adds the IDs but removes none


QUIRK_NAMES = tuple(f.name for f in fields(Quirks))


@dataclass(frozen=True)
class CustomFieldDefinition:
    name: str  # the internal Name: the key in a record's CustomFields
    display_name: str
    data_type: str = "Text"
    required: bool = False
    pulldown_values: tuple[str, ...] = ()

    def api(self, kind: str) -> dict[str, Any]:
        """The definition as GET /<kind>/CustomFieldDefinitions returns it; the ID is stable."""
        digest = hashlib.sha256(f"{kind}:{self.name}".encode()).hexdigest()[:23]
        return {"ID": digest, "Name": self.name, "DisplayName": self.display_name, "DataType": self.data_type,
                "EntityType": ENTITY_TYPES[kind], "IsRequired": self.required,
                "PulldownValues": list(self.pulldown_values)}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    company: Mapping[str, Any]  # GET /Company, less OptionalModules
    optional_modules: tuple[str, ...] = ()
    custom_fields: Mapping[str, tuple[CustomFieldDefinition, ...]] = field(default_factory=dict)
    quirks: Mapping[str, bool] = field(default_factory=dict)

    def company_body(self) -> dict[str, Any]:
        return {**self.company, MODULES: {module: True for module in self.optional_modules}}

    def definitions(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: [d.api(kind) for d in defs] for kind, defs in self.custom_fields.items() if defs}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for storing with the account (from_dict reads it back)."""
        return {"name": self.name, "description": self.description, "company": dict(self.company),
                "optional_modules": list(self.optional_modules),
                "custom_fields": {kind: [{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(d).items()}
                                         for d in defs] for kind, defs in self.custom_fields.items()},
                "quirks": dict(self.quirks)}


def from_dict(data: Mapping[str, Any], source: str = "<profile>") -> Profile:
    """A Profile from parsed YAML (or a stored to_dict); ReconcilerError names `source` and the problem."""
    if not isinstance(data, Mapping):
        raise _error(source, "a profile must be a mapping with a 'company' section")
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise _error(source, f"unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(sorted(_TOP_LEVEL))})")
    company = _company(data.get("company"), source)
    modules = _modules(data.get("optional_modules"), company.pop(MODULES, None), source)
    return Profile(
        name=_text(data.get("name", Path(source).stem), "name", source),
        description=_text(data.get("description", ""), "description", source),
        company=MappingProxyType(company),
        optional_modules=modules,
        custom_fields=MappingProxyType(_custom_fields(data.get("custom_fields") or {}, source)),
        quirks=MappingProxyType(_quirks(data.get("quirks") or {}, source)),
    )


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name, or a profile YAML file by path."""
    if name_or_path in PROFILES:
        text = resources.files("reconciler.sandbox").joinpath(f"profiles/{name_or_path}.yaml").read_text("utf-8")
        return _parse(text, f"profiles/{name_or_path}.yaml", name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        hint = "no such file" if path.suffix in (".yaml", ".yml") or "/" in name_or_path else "not a shipped profile"
        raise ReconcilerError(f"profile {name_or_path!r}: {hint}; shipped profiles: {', '.join(PROFILES)}, "
                              "or give the path of a profile YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _error(str(path), f"cannot be read ({error})") from None
    return _parse(text, str(path), path.stem)


def _parse(text: str, source: str, default_name: str) -> Profile:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise ReconcilerError(f"{where}: not valid YAML ({getattr(error, 'problem', None) or error})") from None
    if isinstance(data, dict):
        data.setdefault("name", default_name)
    return from_dict(data, source)


def _error(source: str, message: str) -> ReconcilerError:
    return ReconcilerError(f"{source}: {message}")


def _text(value: Any, what: str, source: str) -> str:
    if not isinstance(value, str):
        raise _error(source, f"{what} must be text")
    return value


def _company(value: Any, source: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(source, "'company' must be a mapping of GET /Company fields "
                     f"({', '.join(REQUIRED_COMPANY)} at least)")
    company = {**COMPANY_DEFAULTS, **value}
    missing = [name for name in REQUIRED_COMPANY if name not in value]
    if missing:
        raise _error(source, f"company: missing {', '.join(missing)}")
    for name, allowed in COMPANY_ENUMS.items():
        if company.get(name) not in allowed:
            shown = ", ".join("null" if a is None else str(a).lower() if isinstance(a, bool) else str(a)
                              for a in allowed)
            raise _error(source, f"company: {name} is {company.get(name)!r}; expected one of {shown}")
    return company


def _modules(listed: Any, from_company: Any, source: str) -> tuple[str, ...]:
    """optional_modules: a list of names; a pasted company OptionalModules object also counts."""
    names: list[str] = []
    for value, what in ((listed, "optional_modules"), (from_company, f"company: {MODULES}")):
        if value is None:
            continue
        if isinstance(value, Mapping):
            value = [k for k, on in value.items() if on]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _error(source, f"{what} must be a list of module names (e.g. [Corporate])")
        names += [v for v in value if v not in names]
    return tuple(names)


def _custom_fields(value: Any, source: str) -> dict[str, tuple[CustomFieldDefinition, ...]]:
    if not isinstance(value, Mapping):
        raise _error(source, f"custom_fields must map a kind ({', '.join(CUSTOM_FIELD_KINDS)}) to a list")
    result: dict[str, tuple[CustomFieldDefinition, ...]] = {}
    for kind, items in value.items():
        if kind not in CUSTOM_FIELD_KINDS:
            raise _error(source, f"custom_fields: unknown kind {kind!r} (known: {', '.join(CUSTOM_FIELD_KINDS)})")
        if not isinstance(items, list):
            raise _error(source, f"custom_fields.{kind} must be a list of definitions")
        definitions = tuple(_definition(item, f"custom_fields.{kind}[{n}]", source) for n, item in enumerate(items))
        names = [d.name for d in definitions]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise _error(source, f"custom_fields.{kind}: {duplicate!r} is defined twice")
        result[kind] = definitions
    return result


def _definition(item: Any, where: str, source: str) -> CustomFieldDefinition:
    if not isinstance(item, Mapping):
        raise _error(source, f"{where} must be a mapping with at least 'name'")
    api_names = {v: k for k, v in _DEFINITION_KEYS.items()}
    values = {api_names.get(str(k), str(k)): v for k, v in item.items() if k not in ("ID", "EntityType")}
    unknown = sorted(set(values) - set(_DEFINITION_KEYS))
    if unknown:
        raise _error(source, f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_DEFINITION_KEYS)})")
    name = values.get("name")
    if not isinstance(name, str) or not name:
        raise _error(source, f"{where}: 'name' is required text")
    data_type = values.get("data_type", "Text")
    if data_type not in DATA_TYPES:
        raise _error(source, f"{where}: data_type {data_type!r} is not one of {', '.join(DATA_TYPES)}")
    required = values.get("required", False)
    if not isinstance(required, bool):
        raise _error(source, f"{where}: 'required' must be true or false")
    pulldown = values.get("pulldown_values") or []
    if not isinstance(pulldown, list) or not all(isinstance(v, str) for v in pulldown):
        raise _error(source, f"{where}: pulldown_values must be a list of text")
    if data_type == "Pulldown" and not pulldown:
        raise _error(source, f"{where}: a Pulldown field needs pulldown_values")
    display = values.get("display_name", name)
    return CustomFieldDefinition(name, _text(display, f"{where}: display_name", source), data_type, required,
                                 tuple(pulldown))


def _quirks(value: Any, source: str) -> dict[str, bool]:
    if not isinstance(value, Mapping):
        raise _error(source, f"quirks must be a mapping of {', '.join(QUIRK_NAMES)} to true or false")
    unknown = sorted(set(value) - set(QUIRK_NAMES))
    if unknown:
        raise _error(source, f"quirks: unknown quirk(s) {', '.join(map(str, unknown))} "
                             f"(known: {', '.join(QUIRK_NAMES)})")
    for name, on in value.items():
        if not isinstance(on, bool):
            raise _error(source, f"quirks: {name} must be true or false")
    return dict(value)
