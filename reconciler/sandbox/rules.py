"""What a request body and a record may hold: field types, defaults, company gates, custom fields.

Pure checks over plain data; the emulator (emulator.py) adds what needs the store (references,
uniqueness). Field lists and gates follow ClickTime's published OpenAPI models; defaults the spec
does not state are ours (see reconciler.clicktime.assumptions).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.clicktime import assumptions as A


class Refusal(Exception):
    """An error answer: HTTP status plus ClickTime error items."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


def invalid(message: str, field: str | None = None) -> Refusal:
    return Refusal(A.STATUS_INVALID, message, field)


TEXT, BOOL, DATE, MAP, LEVEL, NUMBER = "text", "bool", "date", "map", "level", "number"
CLIENT_REF, USER_REF, TASK_REF = "ref:Clients", "ref:Users", "ref:Tasks"
DIVISION_REF, EMPLOYMENT_TYPE_REF = "ref:Divisions", "ref:EmploymentTypes"
RATE_MODE = "enum:INHERIT|CUSTOM|FLAT"


@dataclass(frozen=True)
class CollectionRules:
    writable: dict[str, str]
    required: tuple[str, ...]
    defaults: dict[str, Any]
    read_only: tuple[str, ...] = ("ID", "ListDisplayText", "CreatedDate", "LegacyID")


_COMMON = {"AccountingPackageID": TEXT, "Notes": TEXT, "CustomFields": MAP}
_COMMON_DEFAULTS = {"AccountingPackageID": "", "Notes": "", "CustomFields": {}}

# The spec's other writable user fields (Models/Patch/UserModel_Root.cs), with our defaults.
_USER_EXTRAS: dict[str, tuple[str, Any]] = {
    "AllowIncompleteTimesheetSubmission": (BOOL, False),
    "BillingRate": (NUMBER, 0.0),
    "UseCompanyBillingRate": (BOOL, True),
    "CostModel": ("enum:Hourly|Salary", "Hourly"),
    "CostPerTimesheet": (NUMBER, 0.0),
    "CostRate": (NUMBER, 0.0),
    "DefaultExpenseTypeID": (TEXT, None),
    "DefaultPaymentTypeID": (TEXT, None),
    "DefaultTaskID": (TASK_REF, None),
    "EnableBreakTime": (BOOL, False),
    "ExpenseApproverID": (USER_REF, None),
    "GDPRConsentStatus": ("enum:NotSubject|WaitingForConsent|Consented", "NotSubject"),
    "IncludeInRM": (BOOL, False),
    "MinimumTimeHours": (NUMBER, 0.0),
    "MinimumTimePeriod": ("enum:Day|Week", "Week"),
    "PayrollType": (TEXT, ""),
    "PreferredTimeEntryView": ("enum:ClassicDayView|DayView|WeekView", "WeekView"),
    "PreferredTimeFormat": ("enum:24Hour|AMPM", "AMPM"),
    "RequireComments": (BOOL, False),
    "RequireStartEndTime": (BOOL, False),
    "RequireStopwatch": (BOOL, False),
    "SkipWeekend": (BOOL, False),
    "SubjectToExpenseApproval": (BOOL, False),
    "SubjectToTimesheetApproval": (BOOL, False),
    "SubjectToTimesheetCompletion": (BOOL, False),
    "TimeOffApproverID": (USER_REF, None),
    "TimesheetApproverID": (USER_REF, None),
}

RULES: dict[str, CollectionRules] = {
    "Clients": CollectionRules(
        {"Name": TEXT, "ShortName": TEXT, "ClientNumber": TEXT, "IsActive": BOOL, "BillingRate": NUMBER,
         "IsEligibleTimeOffAllocation": BOOL, "SecondaryBillingRateMode": RATE_MODE, **_COMMON},
        ("Name", "ShortName"),
        {"ClientNumber": "", "IsActive": True, "BillingRate": 0.0, "IsEligibleTimeOffAllocation": False,
         "SecondaryBillingRateMode": "INHERIT", **_COMMON_DEFAULTS},
    ),
    "Tasks": CollectionRules(
        {"Name": TEXT, "TaskCode": TEXT, "IsActive": BOOL, "IsBillable": BOOL, "BillingRate": NUMBER,
         "UseCompanyBillingRate": BOOL, **_COMMON},
        ("Name", "TaskCode"),
        {"IsActive": True, "IsBillable": True, "BillingRate": 0.0, "UseCompanyBillingRate": True,
         **_COMMON_DEFAULTS},
    ),
    "Users": CollectionRules(
        {"Name": TEXT, "Email": TEXT, "IsActive": BOOL, "SecurityLevel": LEVEL, "EmployeeNumber": TEXT,
         "Role": TEXT, "StartDate": DATE, "EndDate": DATE, "DivisionID": DIVISION_REF,
         "EmploymentTypeID": EMPLOYMENT_TYPE_REF, **{k: kind for k, (kind, _) in _USER_EXTRAS.items()}, **_COMMON},
        ("Name", "Email"),
        {"IsActive": True, "SecurityLevel": "STANDARD", "EmployeeNumber": "", "Role": "", "StartDate": None,
         "EndDate": None, "EmploymentTypeID": None, "DivisionID": None,
         **{k: default for k, (_, default) in _USER_EXTRAS.items()}, **_COMMON_DEFAULTS},
    ),
    "Jobs": CollectionRules(
        {"Name": TEXT, "JobNumber": TEXT, "ClientID": CLIENT_REF, "IsActive": BOOL, "IsBillable": BOOL,
         "StartDate": DATE, "EndDate": DATE, "ProjectManagerID": USER_REF, "TimeRequiresApproval": BOOL,
         "BillingRate": NUMBER, "IncludeInRM": BOOL, "UseCompanyBillingRate": BOOL,
         "IsEligibleTimeOffAllocation": BOOL, "SecondaryBillingRateMode": RATE_MODE, **_COMMON},
        ("Name", "JobNumber", "ClientID"),
        {"IsActive": True, "IsBillable": True, "StartDate": None, "EndDate": None, "ProjectManagerID": None,
         "TimeRequiresApproval": False, "BillingRate": 0.0, "IncludeInRM": False, "UseCompanyBillingRate": True,
         "IsEligibleTimeOffAllocation": False, "SecondaryBillingRateMode": "INHERIT", **_COMMON_DEFAULTS},
    ),
    "Divisions": CollectionRules(
        {"Name": TEXT, "IsActive": BOOL, **_COMMON}, ("Name",), {"IsActive": True, **_COMMON_DEFAULTS}),
    "EmploymentTypes": CollectionRules(
        {"Name": TEXT, "IsActive": BOOL, "AccountingPackageID": TEXT, "Notes": TEXT}, ("Name",),
        {"IsActive": True, "AccountingPackageID": "", "Notes": ""}),
}
LIMITED_LENGTH = {"Name", "ShortName", "JobNumber", "TaskCode", "Email", "ClientNumber"}
CREATABLE_LEVELS = ("STANDARD", "MANAGER")  # POST /Users; ADMIN exists only in reads
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CUSTOM_FIELD_KINDS = ("Clients", "Jobs", "Tasks", "Users", "Divisions")
MODULES = "OptionalModules"


# -- company gates -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Gate:
    """A company requirement from the spec: `setting` must hold one of `allowed`. For
    OptionalModules, one of the modules in `allowed` must be switched on."""

    setting: str
    allowed: tuple[Any, ...]

    def open(self, company: Mapping[str, Any]) -> bool:
        if self.setting == MODULES:
            return any(has_module(company, module) for module in self.allowed)
        return company.get(self.setting) in self.allowed

    def describe(self) -> str:
        if self.setting == MODULES:
            return f"{MODULES} {' or '.join(map(str, self.allowed))}"
        return " or ".join(f"{self.setting}={_text(value)}" for value in self.allowed)


def _text(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def has_module(company: Mapping[str, Any], module: str) -> bool:
    return bool((company.get(MODULES) or {}).get(module))


_DIVISIONS = Gate(MODULES, ("Corporate", "Enterprise"))
_RM = Gate(MODULES, ("Resource Management",))


def _rates(*models: str) -> Gate:
    return Gate("BillingRateModel", models)


GATES: dict[str, dict[str, Gate]] = {
    "Jobs": {"IsBillable": Gate("BillableSetting", ("Job",)),
             "TimeRequiresApproval": Gate("EnableProjectApprovals", (True,)),
             "BillingRate": _rates("JOB"), "UseCompanyBillingRate": _rates("JOB"),
             "SecondaryBillingRateMode": _rates("TASK_JOB", "USER_JOB"), "IncludeInRM": _RM},
    "Tasks": {"IsBillable": Gate("BillableSetting", ("Task",)),
              "BillingRate": _rates("TASK", "TASK_USER", "TASK_JOB"),
              "UseCompanyBillingRate": _rates("TASK", "TASK_USER", "TASK_JOB")},
    "Clients": {"BillingRate": _rates("USER_CLIENT"), "SecondaryBillingRateMode": _rates("USER_CLIENT")},
    "Users": {"DivisionID": _DIVISIONS, "IncludeInRM": _RM,
              "BillingRate": _rates("USER", "USER_JOB", "USER_CLIENT"),
              "UseCompanyBillingRate": _rates("USER", "USER_JOB", "USER_CLIENT")},
}
# Whole endpoints that need a company requirement.
ENDPOINT_GATES: dict[str, Gate] = {"Divisions": _DIVISIONS}


def closed_fields(collection: str, company: Mapping[str, Any],
                  definitions: Mapping[str, Sequence[Mapping[str, Any]]]) -> frozenset[str]:
    """Fields this account neither accepts nor returns for `collection`."""
    closed = {name for name, gate in GATES.get(collection, {}).items() if not gate.open(company)}
    if "CustomFields" in RULES[collection].writable and not definitions.get(collection):
        closed.add("CustomFields")  # "Custom Fields must be configured for <kind>"
    return frozenset(closed)


def gate_message(collection: str, name: str, company: Mapping[str, Any]) -> str:
    if name == "CustomFields":
        return f"{name} needs custom fields configured for {collection}; this account has none"
    gate = GATES[collection][name]
    actual = company.get(gate.setting)
    shown = sorted(k for k, v in (actual or {}).items() if v) if gate.setting == MODULES else actual
    return f"{name} needs the company setting {gate.describe()} (it is {_shown(shown)})"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    return "not set" if value is None else _text(value)


def endpoint_refusal(collection: str, company: Mapping[str, Any]) -> Refusal | None:
    gate = ENDPOINT_GATES.get(collection)
    if gate is None or gate.open(company):
        return None
    return Refusal(A.STATUS_MODULE_MISSING,
                   f"{collection} need the company setting {gate.describe()} (this account has "
                   f"{_shown(sorted(k for k, v in (company.get(MODULES) or {}).items() if v))})", collection)


def present(record: Mapping[str, Any], hidden: Iterable[str]) -> dict[str, Any]:
    """The record as the API returns it: without the fields this account does not return."""
    hidden = frozenset(hidden)
    return {k: v for k, v in record.items() if k not in hidden} if hidden else dict(record)


# -- request bodies ----------------------------------------------------------------------------
RefExists = Callable[[str, str], bool]


def check_body(collection: str, body: Any, creating: bool, company: Mapping[str, Any],
               definitions: Mapping[str, Sequence[Mapping[str, Any]]], ref_exists: RefExists) -> dict[str, Any]:
    """Refuse what a POST (creating) or PATCH body may not hold on this account."""
    rules = RULES[collection]
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    closed = closed_fields(collection, company, definitions)
    for name, value in body.items():
        if name in rules.read_only:
            raise invalid(f"{name} is read-only", name)
        kind = rules.writable.get(name)
        if kind is None:
            if A.REJECT_UNKNOWN_FIELDS:
                raise invalid(f"Unknown field {name}", name)
            continue
        if name in closed:
            raise invalid(gate_message(collection, name, company), name)
        if not creating and name == "SecurityLevel" and A.SECURITY_LEVEL_CREATE_ONLY:
            raise invalid("SecurityLevel can only be set when the user is created", name)
        check_value(name, kind, value, ref_exists)
    for name in rules.required:
        if (creating or name in body) and body.get(name) in (None, ""):
            raise invalid(f"{name} {'is required' if creating else 'cannot be empty'}", name)
    if "CustomFields" in rules.writable and (creating or "CustomFields" in body):
        check_custom_fields(collection, body.get("CustomFields") or {}, definitions.get(collection, ()))
    return dict(body)


def check_value(name: str, kind: str, value: Any, ref_exists: RefExists) -> None:
    if value is None:
        if kind in (BOOL, MAP, LEVEL, NUMBER) or kind.startswith("enum:"):
            raise invalid(f"{name} cannot be null", name)
        return
    if kind == TEXT:
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string", name)
        if name in LIMITED_LENGTH and len(value) > A.MAX_TEXT_LENGTH:
            raise invalid(f"{name} must be at most {A.MAX_TEXT_LENGTH} characters", name)
        if name == "Email" and not EMAIL_PATTERN.match(value):
            raise invalid(f"{value!r} is not a valid email address", name)
    elif kind == BOOL and not isinstance(value, bool):
        raise invalid(f"{name} must be true or false", name)
    elif kind == NUMBER and not _is_number(value):
        raise invalid(f"{name} must be a number", name)
    elif kind == DATE and not _is_date(value):
        raise invalid(f"{name} must be a date in YYYY-MM-DD form", name)
    elif kind == MAP and not isinstance(value, dict):
        raise invalid(f"{name} must be an object", name)
    elif kind == LEVEL:
        _check_level(value)
    elif kind.startswith("enum:") and value not in kind[5:].split("|"):
        raise invalid(f"{name} must be one of {', '.join(kind[5:].split('|'))}", name)
    elif kind.startswith("ref:") and not (isinstance(value, str) and ref_exists(kind[4:], value)):
        raise invalid(f"{name} {value!r} does not exist", name)


def _check_level(value: Any) -> None:
    if value == "ADMIN" and A.ADMIN_CREATE_REFUSED:
        raise invalid("SecurityLevel ADMIN cannot be set through the API (only STANDARD or MANAGER); "
                      "promote administrators in ClickTime under Company > People", "SecurityLevel")
    if value not in CREATABLE_LEVELS:
        raise invalid(f"SecurityLevel must be one of {', '.join(CREATABLE_LEVELS)}", "SecurityLevel")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_custom_fields(collection: str, values: Any, definitions: Sequence[Mapping[str, Any]]) -> None:
    """Keys are definition Names; every required definition needs a value (the whole map is
    written at once: see assumptions.CUSTOM_FIELDS_PATCH_REPLACES)."""
    if not isinstance(values, dict):
        raise invalid("CustomFields must be an object", "CustomFields")
    by_name = {d["Name"]: d for d in definitions}
    for key, value in values.items():
        definition = by_name.get(key)
        if definition is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise invalid(f"CustomFields: {key!r} is not a custom field defined for {collection} "
                          f"(defined: {known})", "CustomFields")
        if value is not None:
            _check_custom_value(key, definition, value)
    for name, definition in by_name.items():
        if definition.get("IsRequired") and values.get(name) in (None, ""):
            raise invalid(f"CustomFields: the required custom field {name!r} ({definition.get('DisplayName')}) "
                          f"is missing", "CustomFields")


def _check_custom_value(key: str, definition: Mapping[str, Any], value: Any) -> None:
    data_type = definition.get("DataType")
    ok = {"Text": lambda: isinstance(value, str),
          "Number": lambda: _is_number(value),
          "Date": lambda: _is_date(value),
          "Pulldown": lambda: value in (definition.get("PulldownValues") or ()),
          "Checkbox": lambda: isinstance(value, bool)}.get(str(data_type), lambda: True)()
    if not ok:
        expected = {"Pulldown": f"one of {', '.join(definition.get('PulldownValues') or ())}",
                    "Date": "a date in YYYY-MM-DD form", "Checkbox": "true or false"}.get(str(data_type),
                                                                                       f"a {data_type}")
        raise invalid(f"CustomFields: {key!r} must be {expected}", "CustomFields")


# -- records -----------------------------------------------------------------------------------
def check_dependent_fields(collection: str, record: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """Rules between fields of one record (spec notes such as "Required if ... is true")."""
    if record.get("StartDate") and record.get("EndDate") and record["EndDate"] < record["StartDate"]:
        raise invalid("EndDate must not be before StartDate", "EndDate")
    if collection == "Jobs" and record.get("TimeRequiresApproval") and not record.get("ProjectManagerID"):
        raise invalid("ProjectManagerID is required if TimeRequiresApproval is true", "ProjectManagerID")
    if collection != "Users":
        return
    for field, switch, wanted in (("TimesheetApproverID", "SubjectToTimesheetApproval", True),
                                  ("ExpenseApproverID", "SubjectToExpenseApproval", True),
                                  ("CostPerTimesheet", "CostModel", "Salary")):
        if field in body and body[field] not in (None, 0, 0.0) and record.get(switch) != wanted:
            raise invalid(f"{field} needs {switch}={_text(wanted)}", field)
