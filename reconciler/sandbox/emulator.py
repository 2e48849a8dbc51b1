"""ClickTime REST API v2 emulator: answers Requests with Responses, enforcing ClickTime's rules.

It speaks the real wire format (PascalCase fields, {"data", "page"} envelope, limit/offset paging,
{"errors": [...]} bodies) so that the reconciler's client code is the same for every backend.
Rules taken from the documentation are enforced as documented; unknowns follow
reconciler.clicktime.assumptions (always the stricter plausible behaviour).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.clicktime import assumptions as A
from reconciler.clicktime.transport import Request, Response
from reconciler.sandbox.store import Store


class Refusal(Exception):
    """An error answer: HTTP status plus ClickTime error items."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


def invalid(message: str, field: str | None = None) -> Refusal:
    return Refusal(A.STATUS_INVALID, message, field)


TEXT, BOOL, DATE, MAP, LEVEL = "text", "bool", "date", "map", "level"
CLIENT_REF, USER_REF = "ref:Clients", "ref:Users"
DIVISION_REF, EMPLOYMENT_TYPE_REF = "ref:Divisions", "ref:EmploymentTypes"


@dataclass(frozen=True)
class CollectionRules:
    writable: dict[str, str]
    required: tuple[str, ...]
    defaults: dict[str, Any]
    read_only: tuple[str, ...] = ("ID", "ListDisplayText", "CreatedDate", "LegacyID")


_COMMON = {"AccountingPackageID": TEXT, "Notes": TEXT, "CustomFields": MAP}
_COMMON_DEFAULTS = {"AccountingPackageID": "", "Notes": "", "CustomFields": {}}

RULES: dict[str, CollectionRules] = {
    "Clients": CollectionRules(
        {"Name": TEXT, "ShortName": TEXT, "ClientNumber": TEXT, "IsActive": BOOL, **_COMMON},
        ("Name", "ShortName"),
        {"ClientNumber": "", "IsActive": True, **_COMMON_DEFAULTS},
    ),
    "Tasks": CollectionRules(
        {"Name": TEXT, "TaskCode": TEXT, "IsActive": BOOL, "IsBillable": BOOL, "UseCompanyBillingRate": BOOL,
         **_COMMON},
        ("Name", "TaskCode"),
        {"IsActive": True, "IsBillable": True, "UseCompanyBillingRate": True, **_COMMON_DEFAULTS},
    ),
    "Users": CollectionRules(
        {"Name": TEXT, "Email": TEXT, "IsActive": BOOL, "SecurityLevel": LEVEL, "EmployeeNumber": TEXT,
         "Role": TEXT, "StartDate": DATE, "EndDate": DATE, "DivisionID": DIVISION_REF,
         "EmploymentTypeID": EMPLOYMENT_TYPE_REF, **_COMMON},
        ("Name", "Email"),
        {"IsActive": True, "SecurityLevel": "STANDARD", "EmployeeNumber": "", "Role": "", "StartDate": None,
         "EndDate": None, "EmploymentTypeID": None, "DivisionID": None, **_COMMON_DEFAULTS},
    ),
    "Jobs": CollectionRules(
        {"Name": TEXT, "JobNumber": TEXT, "ClientID": CLIENT_REF, "IsActive": BOOL, "IsBillable": BOOL,
         "StartDate": DATE, "EndDate": DATE, "ProjectManagerID": USER_REF, "TimeRequiresApproval": BOOL,
         **_COMMON},
        ("Name", "JobNumber", "ClientID"),
        {"IsActive": True, "IsBillable": True, "StartDate": None, "EndDate": None, "ProjectManagerID": None,
         "TimeRequiresApproval": False, **_COMMON_DEFAULTS},
    ),
}
RULES["Divisions"] = CollectionRules(
    {"Name": TEXT, "IsActive": BOOL, **_COMMON}, ("Name",), {"IsActive": True, **_COMMON_DEFAULTS})
RULES["EmploymentTypes"] = CollectionRules(
    {"Name": TEXT, "IsActive": BOOL, "AccountingPackageID": TEXT, "Notes": TEXT}, ("Name",),
    {"IsActive": True, "AccountingPackageID": "", "Notes": ""})
LIMITED_LENGTH = {"Name", "ShortName", "JobNumber", "TaskCode", "Email", "ClientNumber"}
FILTERS = {
    "Clients": ("ID", "Name", "ShortName", "ClientNumber"),
    "Tasks": ("ID", "Name", "TaskCode"),
    "Users": ("ID", "Name", "Email", "SecurityLevel"),
    "Jobs": ("ID", "Name", "JobNumber", "ClientID", "ProjectManagerID"),
    "Divisions": ("ID", "Name"),
    "EmploymentTypes": ("ID", "Name"),
}
ALL = "Clients|Jobs|Tasks|Users|Divisions|EmploymentTypes"
DELETABLE = "Clients|Jobs|Tasks|Users"  # Divisions and EmploymentTypes have no DELETE
LEVELS = ("STANDARD", "MANAGER", "ADMIN")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def envelope(data: Any, status: int = 200, page: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"data": data}
    if page is not None:
        body["page"] = page
    return Response(status, body, {"Content-Type": "application/json"})


def error_response(refusal: Refusal) -> Response:
    item = {"Field": refusal.field, "Message": refusal.message, "MessageDetail": []}
    return Response(refusal.status, {"data": None, "errors": [item]}, {"Content-Type": "application/json"})


class Emulator:
    """One ClickTime account. `handle` is safe to call from several threads."""

    def __init__(self, store: Store, caller_email: str | None = None) -> None:
        self.store = store
        self.lock = threading.RLock()
        self.caller_email = caller_email  # None: the account owner
        self._acting_as: str | None = caller_email
        self.max_page_size = A.MAX_PAGE_SIZE
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("GET", re.compile(r"/Company"), self._get_company),
            ("GET", re.compile(r"/Me"), self._get_me),
            ("GET", re.compile(r"/Jobs/([^/]+)/(Tasks|Users)"), self._get_assigned),
            ("POST", re.compile(r"/Jobs/([^/]+)/(Tasks|Users)"), self._assign),
            ("DELETE", re.compile(r"/Jobs/([^/]+)/(Tasks|Users)/([^/]+)"), self._unassign),
            ("POST", re.compile(r"/TimeEntries"), self._add_time_entry),
            ("GET", re.compile(r"/Reports/Time"), self._time_report),
            ("GET", re.compile(rf"/({ALL})/new"), self._get_template),
            ("GET", re.compile(rf"/({ALL})"), self._list),
            ("POST", re.compile(rf"/({ALL})"), self._create),
            ("GET", re.compile(rf"/({ALL})/([^/]+)"), self._get),
            ("PATCH", re.compile(rf"/({ALL})/([^/]+)"), self._update),
            ("DELETE", re.compile(rf"/({DELETABLE})/([^/]+)"), self._delete),
        ]
        if not self.store.get_setting("company"):
            self.reset()

    @classmethod
    def open(cls, path: str, caller_email: str | None = None) -> Emulator:
        return cls(Store(path), caller_email)

    def close(self) -> None:
        self.store.close()

    # -- account lifecycle -----------------------------------------------------------
    def reset(self, salt: str = "sandbox") -> None:
        """A fresh account: company settings, the owner, and the nine default tasks."""
        with self.lock:
            self.store.clear()
            self.store.set_setting("salt", salt)
            self.store.set_setting("company", dict(A.DEFAULT_COMPANY))
            owner = self._insert("Users", dict(A.SANDBOX_OWNER))
            self.store.set_setting("owner", owner["ID"])
            for code, name in A.DEFAULT_TASKS:
                self._insert("Tasks", {"TaskCode": code, "Name": name})

    def add_token(self, token: str, email: str) -> None:
        """Let `token` act as the user `email` (the HTTP server checks tokens)."""
        with self.lock:
            tokens = self.store.get_setting("tokens", {})
            tokens[token] = email
            self.store.set_setting("tokens", tokens)

    def set_company(self, **settings: Any) -> None:
        with self.lock:
            company = self.store.get_setting("company")
            company.update(settings)
            self.store.set_setting("company", company)

    # -- dispatch --------------------------------------------------------------------
    def handle(self, request: Request, caller_email: str | None = None) -> Response:
        """Answer one request, acting as `caller_email` (default: this emulator's caller)."""
        path = request.path.rstrip("/") or "/"
        with self.lock:
            self._acting_as = caller_email or self.caller_email
            try:
                for method, pattern, handler in self._routes:
                    match = pattern.fullmatch(path)
                    # Routing is case-insensitive in the real API; we answer only the spec's casing.
                    if match and method == request.method.upper():
                        if request.method.upper() == "GET":
                            return handler(request, *match.groups())
                        with self.store.transaction():
                            return handler(request, *match.groups())
                raise Refusal(404, f"No route for {request.method} {request.path}")
            except Refusal as refusal:
                return error_response(refusal)

    # -- caller ------------------------------------------------------------------------
    def _caller(self) -> dict[str, Any]:
        if self._acting_as is None:
            return self.store.get("Users", self.store.get_setting("owner")) or {}
        user_id = self.store.find_id("Users", "k1", self._acting_as.lower())
        if not user_id:
            raise Refusal(401, "Invalid authentication token")
        return self.store.get("Users", user_id) or {}

    def _require_admin(self, what: str) -> None:
        if self._caller().get("SecurityLevel") != "ADMIN":
            raise Refusal(403, f"Only administrators may {what}")

    # -- reads -------------------------------------------------------------------------
    def _get_company(self, request: Request) -> Response:
        return envelope(self.store.get_setting("company"))

    def _get_me(self, request: Request) -> Response:
        return envelope(self._caller())

    def _get_template(self, request: Request, collection: str) -> Response:
        return envelope({k: v for k, v in RULES[collection].defaults.items()})

    def _list(self, request: Request, collection: str) -> Response:
        params: dict[str, list[str]] = {}
        for name, value in request.query:
            params.setdefault(name, []).append(value)
        unknown = set(params) - {"limit", "offset", "IsActive", "Verbose", *FILTERS[collection]}
        if unknown:
            raise invalid(f"Unknown query parameter(s): {', '.join(sorted(unknown))}")
        limit = self._int_param(params, "limit", self.max_page_size)
        offset = self._int_param(params, "offset", 0)
        limit = max(1, min(limit, self.max_page_size))
        active: list[bool] | None = None
        if "IsActive" in params:
            active = [self._bool_param(v) for v in params["IsActive"]]
        elif A.LISTS_HIDE_INACTIVE_BY_DEFAULT:
            active = [True]
        filters = {name: params[name] for name in FILTERS[collection] if name in params}
        records, count = self.store.page(collection, active, filters, limit, offset)
        base = f"/{collection}"
        nxt = f"{base}?limit={limit}&offset={offset + limit}" if offset + limit < count else None
        prev = f"{base}?limit={limit}&offset={max(0, offset - limit)}" if offset > 0 else None
        page = {"count": count, "limit": limit, "offset": offset,
                "links": {"self": f"{base}?limit={limit}&offset={offset}", "first": f"{base}?limit={limit}&offset=0",
                          "previous": prev, "next": nxt, "last": None}}
        return envelope(records, page=page)

    def _get(self, request: Request, collection: str, record_id: str) -> Response:
        return envelope(self._existing(collection, record_id))

    @staticmethod
    def _int_param(params: dict[str, list[str]], name: str, default: int) -> int:
        if name not in params:
            return default
        try:
            value = int(params[name][-1])
        except ValueError:
            raise invalid(f"{name} must be an integer", name)
        if value < 0:
            raise invalid(f"{name} must not be negative", name)
        return value

    @staticmethod
    def _bool_param(value: str) -> bool:
        if value.lower() not in ("true", "false"):
            raise invalid("IsActive must be true or false", "IsActive")
        return value.lower() == "true"

    def _existing(self, collection: str, record_id: str) -> dict[str, Any]:
        record = self.store.get(collection, record_id)
        if record is None:
            raise Refusal(404, f"{collection[:-1]} {record_id} not found")
        return record

    # -- writes ------------------------------------------------------------------------
    def _create(self, request: Request, collection: str) -> Response:
        body = self._check_body(collection, request.body, creating=True)
        if collection == "Users" and body.get("SecurityLevel", "STANDARD") != "STANDARD":
            self._require_admin("set SecurityLevel")
        return envelope(self._insert(collection, body), status=A.STATUS_CREATED)

    def _insert(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        record = {"ID": self.store.new_id(), **RULES[collection].defaults, **body}
        if collection == "Clients":
            record["CreatedDate"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._check_record(collection, record, None)
        self._save(collection, record)
        return record

    def _update(self, request: Request, collection: str, record_id: str) -> Response:
        current = self._existing(collection, record_id)
        body = self._check_body(collection, request.body, creating=False)
        record = {**current, **body}
        self._check_record(collection, record, current)
        self._save(collection, record)
        if collection == "Clients" and current.get("IsActive") and not record["IsActive"]:
            # Documented: inactivating a client inactivates all its jobs (not undone on reactivation).
            for job in self.store.children(record_id):
                if job.get("IsActive"):
                    self._save("Jobs", {**job, "IsActive": False})
        if collection == "Clients" and record["Name"] != current["Name"]:
            for job in self.store.children(record_id):
                self._save("Jobs", job)  # refresh ListDisplayText and sort order
        return envelope(record)

    def _delete(self, request: Request, collection: str, record_id: str) -> Response:
        self._require_admin(f"delete {collection.lower()}")
        record = self._existing(collection, record_id)
        if A.DELETE_REFUSED_WITH_HISTORY and self.store.has_history(record_id):
            raise invalid(
                f"{collection[:-1]} '{self._label(collection, record)}' has time entries and cannot be deleted; "
                "inactivate it instead"
            )
        if collection == "Clients" and A.DELETE_REFUSED_FOR_CLIENT_WITH_JOBS and self.store.children(record_id):
            raise invalid(f"Client '{record['ShortName']}' has jobs and cannot be deleted; inactivate it instead")
        if collection == "Users" and record_id == self._caller().get("ID"):
            raise invalid("You cannot delete your own user")
        self.store.delete(record_id)
        return Response(A.STATUS_NO_CONTENT, None)

    @staticmethod
    def _label(collection: str, record: dict[str, Any]) -> str:
        key = {"Clients": "ShortName", "Tasks": "TaskCode", "Users": "Email", "Jobs": "JobNumber"}.get(collection, "Name")
        return str(record.get(key))

    def _check_body(self, collection: str, body: Any, creating: bool) -> dict[str, Any]:
        rules = RULES[collection]
        if not isinstance(body, dict):
            raise invalid("Request body must be a JSON object")
        for name, value in body.items():
            if name in rules.read_only:
                raise invalid(f"{name} is read-only", name)
            kind = rules.writable.get(name)
            if kind is None:
                if A.REJECT_UNKNOWN_FIELDS:
                    raise invalid(f"Unknown field {name}", name)
                continue
            if not creating and name == "SecurityLevel" and A.SECURITY_LEVEL_CREATE_ONLY:
                raise invalid("SecurityLevel can only be set when the user is created", name)
            self._check_value(name, kind, value)
        if creating:
            for name in rules.required:
                if body.get(name) in (None, ""):
                    raise invalid(f"{name} is required", name)
        else:
            for name in rules.required:
                if name in body and body[name] in (None, ""):
                    raise invalid(f"{name} cannot be empty", name)
        return dict(body)

    def _check_value(self, name: str, kind: str, value: Any) -> None:
        if value is None:
            if kind in (BOOL, MAP, LEVEL):
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
        elif kind == DATE:
            try:
                if not isinstance(value, str) or len(value) != 10:
                    raise ValueError
                dt.date.fromisoformat(value)
            except ValueError:
                raise invalid(f"{name} must be a date in YYYY-MM-DD form", name)
        elif kind == MAP and not isinstance(value, dict):
            raise invalid(f"{name} must be an object", name)
        elif kind == LEVEL and value not in LEVELS:
            raise invalid(f"{name} must be one of {', '.join(LEVELS)}", name)
        elif kind.startswith("ref:") and not (isinstance(value, str) and self.store.get(kind[4:], value)):
            raise invalid(f"{name} {value!r} does not exist", name)

    def _check_record(self, collection: str, record: dict[str, Any], current: dict[str, Any] | None) -> None:
        """Rules that span fields and records: uniqueness and dependent fields."""
        if record.get("StartDate") and record.get("EndDate") and record["EndDate"] < record["StartDate"]:
            raise invalid("EndDate must not be before StartDate", "EndDate")
        if collection == "Jobs" and record.get("TimeRequiresApproval") and not record.get("ProjectManagerID"):
            raise invalid("ProjectManagerID is required if TimeRequiresApproval is true", "ProjectManagerID")
        k1, k2, _, _ = self._index_columns(collection, record)
        for column, value, what in (("k1", k1, self._k1_label(collection)), ("k2", k2, self._k2_label(collection))):
            if value is None:
                continue
            other = self.store.find_id(collection, column, value)
            if other and other != record["ID"]:
                raise invalid(f"{what} must be unique", what.split()[-1])

    @staticmethod
    def _k1_label(collection: str) -> str:
        return {"Clients": "Client ShortName", "Tasks": "Task TaskCode", "Users": "User Email",
                "Jobs": "Job number within the client JobNumber", "Divisions": "Division Name",
                "EmploymentTypes": "Employment type Name"}[collection]

    @staticmethod
    def _k2_label(collection: str) -> str:
        return {"Clients": "Client ClientNumber", "Tasks": "Task Name"}.get(collection, "")

    def _index_columns(self, collection: str, record: dict[str, Any]) -> tuple[str | None, str | None, str, str | None]:
        if collection == "Clients":
            return (record["ShortName"], record.get("ClientNumber") or None,
                    f"{record['Name']}\x00{record['ShortName']}", None)
        if collection == "Tasks":
            return record["TaskCode"], record["Name"].lower(), f"{record['Name'].lower()}", None
        if collection == "Users":
            email = record["Email"].lower() if A.EMAIL_UNIQUE_CASE_INSENSITIVE else record["Email"]
            return email, None, record["Name"].lower(), None
        if collection in ("Divisions", "EmploymentTypes"):
            return record["Name"], None, record["Name"].lower(), None
        client_id = record.get("ClientID")
        k1 = f"{client_id}\x00{record['JobNumber']}" if client_id else None
        return k1, None, record.get("ListDisplayText", ""), client_id

    def _save(self, collection: str, record: dict[str, Any]) -> None:
        if collection == "Jobs":
            client = self.store.get("Clients", record["ClientID"]) if record.get("ClientID") else None
            client_name = client["Name"] if client else "-unspecified-"
            record["ListDisplayText"] = f"{client_name} - {record['JobNumber']} - {record['Name']}"
        elif collection == "Tasks":
            record["ListDisplayText"] = f"{record['TaskCode']} - {record['Name']}"
        elif collection == "Clients":
            record["ListDisplayText"] = record["Name"]
        k1, k2, sort, parent = self._index_columns(collection, record)
        self.store.put(collection, record, sort, parent, k1, k2)

    # -- assignments -------------------------------------------------------------------
    def _check_list_control(self, sub: str) -> None:
        setting, wanted = A.ASSIGNMENT_REQUIRES[sub]
        actual = self.store.get_setting("company").get(setting)
        if actual != wanted:
            raise Refusal(403, f"{sub[:-1]} assignment needs the company setting {setting}={wanted} (it is {actual})")

    def _get_assigned(self, request: Request, job_id: str, sub: str) -> Response:
        self._check_list_control(sub)
        self._existing("Jobs", job_id)
        return envelope(self.store.assigned(job_id, sub))

    def _assign(self, request: Request, job_id: str, sub: str) -> Response:
        self._check_list_control(sub)
        self._existing("Jobs", job_id)
        field = A.ASSIGNMENT_BODY_FIELD[sub]
        body = request.body
        if not isinstance(body, dict) or set(body) != {field}:
            raise invalid(f"Request body must be {{\"{field}\": \"...\"}}")
        target_id = body[field]
        if not isinstance(target_id, str) or self.store.get(sub, target_id) is None:
            raise invalid(f"{field} {target_id!r} does not exist", field)
        if target_id in self.store.assigned(job_id, sub):
            if A.REJECT_DUPLICATE_ASSIGNMENT:
                raise invalid(f"{sub[:-1]} {target_id} is already assigned to this job", field)
        else:
            self.store.assign(job_id, sub, target_id)
        return envelope(self.store.assigned(job_id, sub), status=A.STATUS_CREATED)

    def _unassign(self, request: Request, job_id: str, sub: str, target_id: str) -> Response:
        self._check_list_control(sub)
        self._existing("Jobs", job_id)
        if not self.store.unassign(job_id, sub, target_id):
            raise Refusal(404, f"{sub[:-1]} {target_id} is not assigned to this job")
        return Response(A.STATUS_NO_CONTENT, None)

    # -- history -----------------------------------------------------------------------
    def _add_time_entry(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        for field, collection in (("JobID", "Jobs"), ("TaskID", "Tasks"), ("UserID", "Users")):
            if self.store.get(collection, body.get(field, "")) is None:
                raise invalid(f"{field} does not exist", field)
        entry = {"ID": self.store.new_id(), "Date": body.get("Date", dt.date.today().isoformat()),
                 "Hours": body.get("Hours", 1.0), "JobID": body["JobID"], "TaskID": body["TaskID"],
                 "UserID": body["UserID"], "Comment": body.get("Comment", "")}
        self.store.add_time_entry(entry)
        return envelope(entry, status=A.STATUS_CREATED)

    def _time_report(self, request: Request) -> Response:
        params: dict[str, list[str]] = {}
        for name, value in request.query:
            params.setdefault(name, []).append(value)
        filters = ("JobID", "ClientID", "UserID", "TaskID")
        unknown = set(params) - {"limit", "offset", "StartDate", "EndDate", *filters}
        if unknown:
            raise invalid(f"Unknown query parameter(s): {', '.join(sorted(unknown))}")
        limit = max(1, min(self._int_param(params, "limit", self.max_page_size), self.max_page_size))
        offset = self._int_param(params, "offset", 0)
        start, end = params.get("StartDate", [""])[-1], params.get("EndDate", ["9999-12-31"])[-1]
        rows = []
        for entry in self.store.time_entries():
            job = self.store.get("Jobs", entry["JobID"]) or {}
            row = {**entry, "ClientID": job.get("ClientID"), "IsBillable": job.get("IsBillable", True)}
            if not start <= row["Date"] <= end:
                continue
            if all(row.get(f) in params[f] for f in filters if f in params):
                rows.append(row)
        rows.sort(key=lambda r: (r["Date"], r["ID"]), reverse=True)  # Date desc, then ID desc
        page = {"count": len(rows), "limit": limit, "offset": offset, "links": {}}
        return envelope(rows[offset:offset + limit], page=page)

    # -- summary for `sandbox show` ----------------------------------------------------
    def summary(self) -> dict[str, Any]:
        with self.lock:
            counts = {}
            for collection in ("Clients", "Jobs", "Tasks", "Users", "Divisions", "EmploymentTypes"):
                active, total = self.store.page(collection, [True], {}, 1, 0)[1], self.store.count(collection)
                counts[collection] = {"active": active, "inactive": total - active}
            return {"company": self.store.get_setting("company"), "counts": counts,
                    "time_entries": len(self.store.time_entries())}
