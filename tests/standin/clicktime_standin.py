"""An independent stand-in for ClickTime's REST API v2, written only from the reference documents
(clicktime-api.md and real-account-facts.md), not from the project's emulator.

Where the documents leave a behaviour open, the stand-in answers the way least convenient for a
client, and every such choice is a switch in `Options` (see its fields). Run it by hand with

    python tests/standin/clicktime_standin.py --port 8766 --profile bills-by-job --set nulls=null

or in-process with `StandIn(options).start()` (tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "standin-secret-token-7f3a9c"

ENTITY_COLLECTIONS = ("Clients", "Jobs", "Tasks", "Users", "Divisions", "EmploymentTypes")
ENTITY_TYPE = {"Clients": "Client", "Jobs": "Job", "Tasks": "Task", "Users": "User", "Divisions": "Division",
               "EmploymentTypes": "EmploymentType"}

# Writable fields per collection (the POST/PATCH models of the spec, limited to what the documents list).
WRITABLE: dict[str, set[str]] = {
    "Clients": {"Name", "ShortName", "ClientNumber", "IsActive", "AccountingPackageID", "Notes", "CustomFields",
                "BillingRate", "SecondaryBillingRateMode", "IsEligibleTimeOffAllocation"},
    "Jobs": {"Name", "JobNumber", "ClientID", "IsActive", "IsBillable", "StartDate", "EndDate", "ProjectManagerID",
             "TimeRequiresApproval", "AccountingPackageID", "Notes", "CustomFields", "BillingRate",
             "UseCompanyBillingRate", "SecondaryBillingRateMode", "IncludeInRM", "IsEligibleTimeOffAllocation"},
    "Tasks": {"Name", "TaskCode", "IsActive", "IsBillable", "BillingRate", "UseCompanyBillingRate",
              "AccountingPackageID", "Notes", "CustomFields"},
    "Users": {"Name", "Email", "IsActive", "SecurityLevel", "EmploymentTypeID", "DivisionID", "EmployeeNumber", "Role",
              "StartDate", "EndDate", "Notes", "CustomFields", "AccountingPackageID", "CostModel", "CostRate",
              "BillingRate", "UseCompanyBillingRate", "TimesheetApproverID", "SubjectToTimesheetApproval"},
    "Divisions": {"Name", "IsActive", "AccountingPackageID", "Notes", "CustomFields"},
    "EmploymentTypes": {"Name", "IsActive", "AccountingPackageID", "Notes"},
}
# Every field a GET shows (unset ones are null or left out, per Options.nulls).
READ_FIELDS: dict[str, list[str]] = {
    "Clients": ["ID", "Name", "ShortName", "ClientNumber", "IsActive", "AccountingPackageID", "Notes", "CustomFields",
                "CreatedDate", "ListDisplayText"],
    "Jobs": ["ID", "Name", "JobNumber", "ClientID", "IsActive", "IsBillable", "StartDate", "EndDate",
             "ProjectManagerID", "TimeRequiresApproval", "AccountingPackageID", "Notes", "CustomFields",
             "ListDisplayName", "ListDisplayText"],
    "Tasks": ["ID", "Name", "TaskCode", "IsActive", "IsBillable", "AccountingPackageID", "Notes", "CustomFields",
              "ListDisplayText"],
    "Users": ["ID", "Name", "Email", "IsActive", "SecurityLevel", "EmploymentTypeID", "DivisionID", "EmployeeNumber",
              "Role", "StartDate", "EndDate", "Notes", "CustomFields"],
    "Divisions": ["ID", "Name", "IsActive", "AccountingPackageID", "Notes", "CustomFields"],
    "EmploymentTypes": ["ID", "Name", "IsActive", "AccountingPackageID", "Notes"],
}
REQUIRED = {"Clients": ["Name", "ShortName"], "Jobs": ["Name", "JobNumber", "ClientID"], "Tasks": ["Name", "TaskCode"],
            "Users": ["Name", "Email"], "Divisions": ["Name"], "EmploymentTypes": ["Name"]}
DATE_FIELDS = {"StartDate", "EndDate"}
FILTERS = {"Clients": {"ID", "IsActive", "Name", "ShortName", "ClientNumber"},
           "Jobs": {"ID", "ClientID", "Name", "JobNumber", "IsActive", "ProjectManagerID", "UserID"},
           "Tasks": {"ID", "IsActive", "Name", "TaskCode"},
           "Users": {"ID", "Name", "Email", "DivisionID", "EmploymentTypeID", "SecurityLevel", "IsActive", "JobID"},
           "Divisions": {"ID", "Name", "IsActive"}, "EmploymentTypes": {"ID", "Name", "IsActive"}}

# Account profiles as the project's README describes them (list controls, billability, Job Approvals,
# modules, custom fields), written down independently.
PROFILES: dict[str, dict[str, Any]] = {
    "new-account": {"JobRestrictionMethod": "none", "TaskRestrictionMethod": "mytasks", "BillableSetting": "Job",
                    "EnableProjectApprovals": False, "OptionalModules": [], "custom_fields": []},
    "bills-by-job": {"JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob", "BillableSetting": "Job",
                     "EnableProjectApprovals": True, "OptionalModules": [],
                     "custom_fields": [{"Name": "industry", "DisplayName": "Industry", "DataType": "Text",
                                        "EntityType": "Client", "IsRequired": False}]},
    "corporate-bills-by-job": {"JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob",
                               "BillableSetting": "Job", "EnableProjectApprovals": True,
                               "OptionalModules": ["Corporate"], "custom_fields": []},
    # A kitchen-sink account for tests: billability by task, custom fields on every kind, one required.
    "standin-full": {"JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob", "BillableSetting": "Task",
                     "EnableProjectApprovals": True, "OptionalModules": ["Corporate"],
                     "custom_fields": [
                         {"Name": "industry", "DisplayName": "Industry", "DataType": "Text", "EntityType": "Client",
                          "IsRequired": False},
                         {"Name": "tier", "DisplayName": "Tier", "DataType": "Pulldown", "EntityType": "Client",
                          "IsRequired": False, "PulldownValues": ["Gold", "Silver"]},
                         {"Name": "cost_center", "DisplayName": "Cost center", "DataType": "Text",
                          "EntityType": "Job", "IsRequired": True},
                         {"Name": "budget_hours", "DisplayName": "Budget hours", "DataType": "Number",
                          "EntityType": "Job", "IsRequired": False},
                         {"Name": "kickoff", "DisplayName": "Kickoff", "DataType": "Date", "EntityType": "Job",
                          "IsRequired": False},
                         {"Name": "phase", "DisplayName": "Phase", "DataType": "Text", "EntityType": "Task",
                          "IsRequired": False},
                         {"Name": "badge", "DisplayName": "Badge", "DataType": "Text", "EntityType": "User",
                          "IsRequired": False},
                     ]},
}

# The nine tasks a new account has: only the count is documented; these names are our own guess.
SEEDED_TASKS = [("Admin", "ADM"), ("Meetings", "MTG"), ("Travel", "TRV"), ("Training", "TRN"),
                ("Vacation", "VAC"), ("Sick", "SCK"), ("Holiday", "HOL"), ("General", "GEN"), ("Sales", "SAL")]


@dataclass
class Options:
    """Every behaviour the documents leave open; defaults are the least convenient for a client."""

    nulls: str = "omit"                 # "omit": unset fields are left out of answers; "null": sent as null
    datetimes: bool = True              # dates answered as 2025-02-03T00:00:00 (else 2025-02-03)
    duplicate_status: int = 409         # status of a create that breaks a uniqueness rule (400, 409, 422)
    max_page: int = 100                 # larger limits are clamped, and page.limit says so
    default_page: int = 50              # limit when none is sent
    hide_inactive: bool = True          # lists without IsActive show only active records
    assignments_hide_inactive: bool = True  # GET /Jobs/{id}/Users hides inactive users
    duplicate_assignment_error: bool = True  # POST of an existing assignment is refused
    assignment_delete_body: bool = True  # DELETE of an assignment answers {"data": [remaining IDs]}
    refuse_admin: bool = True           # POST /Users with SecurityLevel ADMIN is refused (else coerced to MANAGER)
    gated: str = "refuse"               # gated fields: "refuse" (400) or "drop" (silently ignored)
    refuse_unknown_fields: bool = True  # fields outside the POST/PATCH models are refused
    throttle_every: int = 0             # every Nth request is answered 429 (0: never)
    retry_after: str = "1"              # Retry-After of those 429s ("" leaves the header out)
    keys_case_insensitive: bool = True  # uniqueness of ShortName/TaskCode/JobNumber/Email/Name ignores case
    custom_fields_patch: str = "replace"  # PATCH CustomFields "replace"s the map (or "merge"s)
    refuse_job_reactivation_under_inactive_client: bool = True
    envelope_extras: bool = True        # answers carry "errors": [], "meta": {}, "jsonapi": {...} as well
    absolute_links: bool = True         # page.links hold absolute URLs
    optional_modules_as_text: bool = False  # Company.OptionalModules as "Corporate, Enterprise" (else a list)
    profile: str = "bills-by-job"


def _parse_bool(text: str) -> bool | None:
    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    return None


def option_from_text(options: Options, text: str) -> None:
    name, _, value = text.partition("=")
    current = getattr(options, name)
    if isinstance(current, bool):
        parsed = _parse_bool(value)
        if parsed is None:
            raise ValueError(f"{name}: not a boolean: {value}")
        setattr(options, name, parsed)
    elif isinstance(current, int):
        setattr(options, name, int(value))
    else:
        setattr(options, name, value)


class ApiError(Exception):
    def __init__(self, status: int, message: str, field_name: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field_name = field_name
        self.headers = headers or {}


def _new_id(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % 62] for b in digest[:24])


def _norm_date(value: Any, field_name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{field_name} must be a date string", field_name)
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(T00:00:00(\.0+)?Z?)?", value)
    if not match:
        raise ApiError(400, f"{field_name} is not a valid date: {value}", field_name)
    return match.group(1)


@dataclass
class Account:
    company: dict[str, Any]
    custom_fields: list[dict[str, Any]]
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {c: {} for c in ENTITY_COLLECTIONS})
    job_tasks: dict[str, list[str]] = field(default_factory=dict)
    job_users: dict[str, list[str]] = field(default_factory=dict)
    me: str = ""
    counter: int = 0


class StandIn:
    """The account, its HTTP server, and a log of (method, path, status) for every call."""

    def __init__(self, options: Options | None = None, token: str = TOKEN) -> None:
        self.options = options or Options()
        self.token = token
        self.lock = threading.RLock()
        self.calls: list[tuple[str, str, int]] = []
        self.unknown: list[str] = []
        self.request_count = 0
        self.account = self._fresh_account()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- account -------------------------------------------------------------------------------
    def _fresh_account(self) -> Account:
        profile = PROFILES[self.options.profile]
        company = {
            "ID": _new_id("company"), "Name": "Stand-in Company", "BillableSetting": profile["BillableSetting"],
            "JobRestrictionMethod": profile["JobRestrictionMethod"],
            "TaskRestrictionMethod": profile["TaskRestrictionMethod"],
            "EnableProjectApprovals": profile["EnableProjectApprovals"],
            "OptionalModules": list(profile["OptionalModules"]),
            "JobTermSingular": "Project", "JobTermPlural": "Projects", "ClientTermSingular": "Client",
            "TaskTermSingular": "Task", "DivisionTermSingular": "Division", "BillingRateModel": "JOB",
        }
        defs = []
        for i, definition in enumerate(profile["custom_fields"]):
            item = {"ID": _new_id(f"cfd{i}"), "PulldownValues": None, **definition}
            defs.append(item)
        account = Account(company=company, custom_fields=defs)
        self.account = account
        owner = self._insert("Users", {"Name": "Owner Admin", "Email": "owner@standin.example",
                                       "SecurityLevel": "ADMIN", "IsActive": True})
        account.me = owner["ID"]
        for name, code in SEEDED_TASKS:
            self._insert("Tasks", {"Name": name, "TaskCode": code, "IsActive": True})
        return account

    def _insert(self, collection: str, values: dict[str, Any]) -> dict[str, Any]:
        self.account.counter += 1
        record: dict[str, Any] = {name: None for name in READ_FIELDS[collection]}
        record["ID"] = _new_id(f"{collection}-{self.account.counter}")
        record["IsActive"] = True
        if "CustomFields" in record:
            record["CustomFields"] = {}
        if collection == "Clients":
            record["CreatedDate"] = "2025-01-01T12:00:00Z"
        if collection == "Jobs":
            record["TimeRequiresApproval"] = False
        record.update(values)
        self.account.records[collection][record["ID"]] = record
        return record

    def add(self, collection: str, **values: Any) -> dict[str, Any]:
        """Seeds a record directly (tests), bypassing the API's rules."""
        with self.lock:
            return self._insert(collection, values)

    def find(self, collection: str, **match: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.account.records[collection].values()
                    if all(r.get(k) == v for k, v in match.items())]

    def reset(self) -> None:
        with self.lock:
            self.account = self._fresh_account()
            self.calls.clear()
            self.unknown.clear()

    # ---- server --------------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = standin.handle(self.command, self.path, dict(self.headers.items()), raw,
                                                       f"http://{self.headers.get('Host', 'localhost')}")
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---- dispatch ------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes,
               origin: str) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        with self.lock:
            self.request_count += 1
            count = self.request_count
        status: int
        answer_headers: dict[str, str] = {}
        body: Any
        try:
            auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            if auth != f"Token {self.token}":
                raise ApiError(401, "Authentication failed: invalid or missing token.")
            if self.options.throttle_every and count % self.options.throttle_every == 0:
                extra = {"Retry-After": self.options.retry_after} if self.options.retry_after else {}
                raise ApiError(429, "Too many requests. Wait a few seconds and try again.", headers=extra)
            if not path.lower().startswith("/v2/") and path.lower() != "/v2":
                raise ApiError(404, f"No route for {path}")
            segments = [s for s in path[3:].split("/") if s]
            payload: Any = None
            if raw:
                try:
                    payload = json.loads(raw)
                except ValueError as exc:
                    raise ApiError(400, "The request body is not valid JSON.") from exc
            with self.lock:
                status, body = self._route(method, segments, query, payload, origin, path)
        except ApiError as exc:
            status = exc.status
            answer_headers = exc.headers
            body = {"errors": [{"Field": exc.field_name, "Message": exc.message, "MessageDetail": []}]}
            if self.options.envelope_extras:
                body.update({"data": None, "meta": {}, "jsonapi": {"version": "1.0"}})
        if body is not None and self.options.envelope_extras and status < 300:
            body.setdefault("errors", [])
            body.setdefault("meta", {})
            body.setdefault("jsonapi", {"version": "1.0"})
        with self.lock:
            self.calls.append((method, path + (f"?{parts.query}" if parts.query else ""), status))
        return status, answer_headers, body

    def _collection(self, name: str) -> str | None:
        for candidate in (*ENTITY_COLLECTIONS, "Company", "Me", "Manage", "Reports", "CustomFieldDefinitions"):
            if candidate.lower() == name.lower():
                return candidate
        return None

    def _route(self, method: str, segs: list[str], query: dict[str, list[str]], payload: Any, origin: str,
               path: str) -> tuple[int, Any]:
        if not segs:
            raise ApiError(404, "Not found")
        head = self._collection(segs[0])
        if head == "Manage" and len(segs) >= 2 and segs[1].lower() == "users":
            head, segs = "Users", segs[1:]
            if method == "POST" and payload and "SecurityLevel" in payload:
                raise ApiError(400, "SecurityLevel cannot be set through /Manage/Users.", "SecurityLevel")
        if head == "Company" and len(segs) == 1 and method == "GET":
            company = dict(self.account.company)
            if self.options.optional_modules_as_text:
                company["OptionalModules"] = ", ".join(company["OptionalModules"])
            return 200, {"data": company}
        if head == "Me" and len(segs) == 1 and method == "GET":
            return 200, {"data": self._present("Users", self.account.records["Users"][self.account.me])}
        if head == "Reports" and method == "GET":
            return 200, self._page([], query, origin, path)
        if head == "CustomFieldDefinitions" and method == "GET" and len(segs) == 1:
            defs = self.account.custom_fields
            if "EntityType" in query:
                wanted = {v.lower() for v in query["EntityType"]}
                defs = [d for d in defs if d["EntityType"].lower() in wanted]
            return 200, self._page([self._strip(d) for d in defs], query, origin, path)
        if head not in ENTITY_COLLECTIONS:
            self.unknown.append(f"{method} {path}")
            raise ApiError(404, f"No route for {method} {path}")
        collection = head
        if collection == "Divisions" and not self._has_corporate():
            raise ApiError(403, "Divisions need the Corporate or Enterprise module.")
        if len(segs) == 1:
            if method == "GET":
                return 200, self._list(collection, query, origin, path)
            if method == "POST":
                return 201, {"data": self._present(collection, self._create(collection, payload))}
            raise ApiError(405, "Method not allowed")
        if len(segs) == 2 and segs[1].lower() == "new" and method == "GET":
            return 200, {"data": self._present(collection, self._defaults(collection))}
        if len(segs) == 2 and segs[1].lower() == "customfielddefinitions" and method == "GET":
            defs = [self._strip(d) for d in self.account.custom_fields
                    if d["EntityType"] == ENTITY_TYPE[collection]]
            return 200, self._page(defs, query, origin, path)
        record = self.account.records[collection].get(segs[1])
        if record is None:
            raise ApiError(404, f"{ENTITY_TYPE[collection]} {segs[1]} not found.")
        if len(segs) == 2:
            if method == "GET":
                return 200, {"data": self._present(collection, record)}
            if method == "PATCH":
                return 200, {"data": self._present(collection, self._update(collection, record, payload))}
            if method == "DELETE":
                self._delete(collection, record)
                return 204, None
            raise ApiError(405, "Method not allowed")
        if collection == "Jobs" and segs[2].lower() in ("tasks", "users"):
            return self._assignments(method, record, segs[2].lower(), segs[3:], query, payload)
        if collection == "Tasks" and segs[2].lower() == "jobs" and len(segs) == 3 and method == "GET":
            if self.account.company["TaskRestrictionMethod"] != "byjob":
                raise ApiError(400, "Task List Control must be restricted by Job.")
            jobs = [job_id for job_id, ids in self.account.job_tasks.items() if record["ID"] in ids]
            if "IsActive" in query:
                wanted = {_parse_bool(v) for v in query["IsActive"]}
                jobs = [j for j in jobs if self.account.records["Jobs"][j]["IsActive"] in wanted]
            elif self.options.hide_inactive:
                jobs = [j for j in jobs if self.account.records["Jobs"][j]["IsActive"]]
            return 200, {"data": jobs}
        self.unknown.append(f"{method} {path}")
        raise ApiError(404, f"No route for {method} {path}")

    # ---- helpers -------------------------------------------------------------------------------
    def _has_corporate(self) -> bool:
        return bool({"Corporate", "Enterprise"} & set(self.account.company["OptionalModules"]))

    def _strip(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.options.nulls == "omit":
            return {k: v for k, v in record.items() if v is not None}
        return dict(record)

    def _gated_read(self, collection: str) -> set[str]:
        """Fields a GET leaves out because the company's settings close them."""
        closed: set[str] = set()
        billable = self.account.company["BillableSetting"]
        if collection == "Jobs" and billable != "Job":
            closed.add("IsBillable")
        if collection == "Tasks" and billable != "Task":
            closed.add("IsBillable")
        if collection == "Jobs" and not self.account.company["EnableProjectApprovals"]:
            closed.add("TimeRequiresApproval")
        if collection == "Users" and not self._has_corporate():
            closed.add("DivisionID")
        if collection != "EmploymentTypes" and not any(
                d["EntityType"] == ENTITY_TYPE[collection] for d in self.account.custom_fields):
            closed.add("CustomFields")
        return closed

    def _present(self, collection: str, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        closed = self._gated_read(collection)
        for name in READ_FIELDS[collection]:
            if name in closed:
                continue
            value = record.get(name)
            if name in DATE_FIELDS and value is not None and self.options.datetimes:
                value = f"{value}T00:00:00"
            if name == "CustomFields" and value is not None:
                value = dict(value)
                if self.options.nulls == "omit":
                    value = {k: v for k, v in value.items() if v is not None}
            if value is None and self.options.nulls == "omit":
                continue
            out[name] = value
        if collection == "Jobs":
            client = self.account.records["Clients"].get(record.get("ClientID") or "")
            out["ListDisplayText"] = f"{client['Name'] if client else '-unspecified-'} - {record['JobNumber']} - " \
                                     f"{record['Name']}"
            out["ListDisplayName"] = record["Name"]
        elif collection == "Clients":
            out["ListDisplayText"] = record["Name"]
        elif collection == "Tasks":
            out["ListDisplayText"] = f"{record['TaskCode']} - {record['Name']}"
        return out

    def _defaults(self, collection: str) -> dict[str, Any]:
        record: dict[str, Any] = {name: None for name in READ_FIELDS[collection]}
        record.update({"ID": None, "IsActive": True})
        if "CustomFields" in record:
            record["CustomFields"] = {}
        if collection == "Jobs":
            record.update({"TimeRequiresApproval": False, "IsBillable": True, "JobNumber": "", "Name": ""})
        if collection == "Tasks":
            record.update({"IsBillable": True, "TaskCode": "", "Name": ""})
        if collection == "Users":
            record.update({"SecurityLevel": "STANDARD", "Email": "", "Name": ""})
        if collection == "Clients":
            record.update({"ShortName": "", "Name": ""})
        return record

    def _sort_key(self, collection: str) -> Callable[[dict[str, Any]], Any]:
        if collection in ("Jobs", "Clients"):
            return lambda r: (self._present(collection, r).get("ListDisplayText", ""), r["ID"])
        return lambda r: (r.get("Name") or "", r["ID"])

    def _list(self, collection: str, query: dict[str, list[str]], origin: str, path: str) -> dict[str, Any]:
        records = list(self.account.records[collection].values())
        for name, values in query.items():
            if name in ("limit", "offset", "Verbose", "verbose"):
                continue
            if name not in FILTERS[collection]:
                raise ApiError(400, f"Unknown query parameter: {name}", name)
            if name == "IsActive":
                wanted_b = {_parse_bool(v) for v in values}
                if None in wanted_b:
                    raise ApiError(400, "IsActive must be true or false", name)
                records = [r for r in records if r["IsActive"] in wanted_b]
            elif name == "UserID" and collection == "Jobs":
                wanted = set(values)
                records = [r for r in records if wanted & set(self.account.job_users.get(r["ID"], []))]
            elif name == "JobID" and collection == "Users":
                wanted = set(values)
                records = [r for r in records
                           if any(r["ID"] in self.account.job_users.get(j, []) for j in wanted)]
            elif name == "Email":
                wanted = {v.lower() for v in values}
                records = [r for r in records if (r.get("Email") or "").lower() in wanted]
            else:
                wanted = set(values)
                records = [r for r in records if str(r.get(name)) in wanted]
        if "IsActive" not in query and self.options.hide_inactive:
            records = [r for r in records if r["IsActive"]]
        records.sort(key=self._sort_key(collection))
        return self._page([self._present(collection, r) for r in records], query, origin, path)

    def _page(self, items: list[dict[str, Any]], query: dict[str, list[str]], origin: str,
              path: str) -> dict[str, Any]:
        try:
            limit = int(query.get("limit", [str(self.options.default_page)])[-1])
            offset = int(query.get("offset", ["0"])[-1])
        except ValueError as exc:
            raise ApiError(400, "limit and offset must be integers") from exc
        if limit < 1 or offset < 0:
            raise ApiError(400, "limit must be positive and offset not negative")
        limit = min(limit, self.options.max_page)
        base = (origin if self.options.absolute_links else "") + path

        def link(off: int) -> str:
            return f"{base}?limit={limit}&offset={off}"

        count = len(items)
        last = max(0, (count - 1) // limit * limit)
        return {"data": items[offset:offset + limit],
                "page": {"count": count, "limit": limit, "offset": offset,
                         "links": {"self": link(offset), "first": link(0),
                                   "previous": link(max(0, offset - limit)) if offset > 0 else None,
                                   "next": link(offset + limit) if offset + limit < count else None,
                                   "last": link(last)}}}

    def _check_fields(self, collection: str, payload: Any, creating: bool) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        values = dict(payload)
        for name in list(values):
            if name not in WRITABLE[collection] or (name == "SecurityLevel" and not creating):
                if self.options.refuse_unknown_fields:
                    raise ApiError(400, f"Unknown or read-only field: {name}", name)
                del values[name]
        closed = self._gated_read(collection)
        for name in list(values):
            if name in closed:
                if self.options.gated == "refuse":
                    raise ApiError(400, f"{name} is not available with this company's settings.", name)
                del values[name]
        for name in DATE_FIELDS & set(values):
            values[name] = _norm_date(values[name], name)
        for name in ("Name", "ShortName", "JobNumber", "TaskCode", "Email"):
            if name in values and values[name] is not None:
                if not isinstance(values[name], str) or not values[name].strip():
                    raise ApiError(400, f"{name} is required.", name)
                if len(values[name]) > 50:
                    raise ApiError(400, f"{name} must be at most 50 characters.", name)
        if "IsActive" in values and not isinstance(values["IsActive"], bool):
            raise ApiError(400, "IsActive must be a boolean", "IsActive")
        if "CustomFields" in values:
            values["CustomFields"] = self._check_custom(collection, values["CustomFields"])
        return values

    def _check_custom(self, collection: str, fields: Any) -> dict[str, Any]:
        if not isinstance(fields, dict):
            raise ApiError(400, "CustomFields must be an object", "CustomFields")
        defs = {d["Name"]: d for d in self.account.custom_fields if d["EntityType"] == ENTITY_TYPE[collection]}
        out: dict[str, Any] = {}
        for key, value in fields.items():
            definition = defs.get(key)
            if definition is None:
                raise ApiError(400, f"Unknown custom field: {key}", "CustomFields")
            if value is None or value == "":
                out[key] = None
                continue
            kind = definition["DataType"]
            if kind == "Number":
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise ApiError(400, f"Custom field {key} must be a number", "CustomFields")
                try:
                    value = float(value)
                except ValueError as exc:
                    raise ApiError(400, f"Custom field {key} must be a number", "CustomFields") from exc
            elif kind == "Date":
                value = _norm_date(value, key)
            elif kind == "Pulldown":
                if value not in (definition.get("PulldownValues") or []):
                    raise ApiError(400, f"Custom field {key}: not one of its values", "CustomFields")
            elif kind == "Checkbox":
                if not isinstance(value, bool):
                    raise ApiError(400, f"Custom field {key} must be true or false", "CustomFields")
            elif not isinstance(value, str):
                raise ApiError(400, f"Custom field {key} must be text", "CustomFields")
            out[key] = value
        return out

    def _unique(self, collection: str, values: dict[str, Any], own_id: str | None) -> None:
        rules: list[tuple[str, ...]] = {
            "Clients": [("ShortName",), ("ClientNumber",)], "Jobs": [("ClientID", "JobNumber")],
            "Tasks": [("TaskCode",), ("Name",)], "Users": [("Email",)], "Divisions": [("Name",)],
            "EmploymentTypes": [("Name",)]}[collection]

        def norm(v: Any) -> Any:
            if isinstance(v, str) and (self.options.keys_case_insensitive or collection == "Users"):
                return v.lower()
            return v

        for rule in rules:
            if any(values.get(f) in (None, "") for f in rule):
                continue
            mine = tuple(norm(values[f]) for f in rule)
            for other in self.account.records[collection].values():
                if other["ID"] != own_id and tuple(norm(other.get(f)) for f in rule) == mine:
                    raise ApiError(self.options.duplicate_status,
                                   f"{'/'.join(rule)} must be unique: {values[rule[-1]]} is already used.", rule[-1])

    def _check_rules(self, collection: str, record: dict[str, Any]) -> None:
        if collection == "Jobs":
            if record.get("ClientID") not in self.account.records["Clients"]:
                raise ApiError(400, "ClientID does not name a client.", "ClientID")
            pm = record.get("ProjectManagerID")
            if pm is not None and pm not in self.account.records["Users"]:
                raise ApiError(400, "ProjectManagerID does not name a user.", "ProjectManagerID")
            if record.get("TimeRequiresApproval") and not pm:
                raise ApiError(400, "ProjectManagerID is required if TimeRequiresApproval is true.",
                               "ProjectManagerID")
        if collection in ("Jobs", "Users"):
            start, end = record.get("StartDate"), record.get("EndDate")
            if start and end and end < start:
                raise ApiError(400, "EndDate cannot be before StartDate.", "EndDate")
        if collection == "Users":
            for name, coll in (("DivisionID", "Divisions"), ("EmploymentTypeID", "EmploymentTypes")):
                if record.get(name) is not None and record[name] not in self.account.records[coll]:
                    raise ApiError(400, f"{name} does not name a record.", name)

    def _create(self, collection: str, payload: Any) -> dict[str, Any]:
        values = self._check_fields(collection, payload, creating=True)
        for name in REQUIRED[collection]:
            if values.get(name) in (None, ""):
                raise ApiError(400, f"{name} is required.", name)
        if collection == "Users":
            level = values.get("SecurityLevel") or "STANDARD"
            if level not in ("STANDARD", "MANAGER", "ADMIN"):
                raise ApiError(400, f"SecurityLevel: unknown value {level}", "SecurityLevel")
            if level == "ADMIN":
                if self.options.refuse_admin:
                    raise ApiError(400, "SecurityLevel must be STANDARD or MANAGER.", "SecurityLevel")
                level = "MANAGER"
            values["SecurityLevel"] = level
        custom = values.get("CustomFields") or {}
        for definition in self.account.custom_fields:
            if (definition["EntityType"] == ENTITY_TYPE[collection] and definition["IsRequired"]
                    and custom.get(definition["Name"]) in (None, "")):
                raise ApiError(400, f"Custom field {definition['Name']} is required.", "CustomFields")
        self._unique(collection, values, None)
        candidate = {**self._defaults(collection), **values}
        if collection == "Tasks" and self.account.company["BillableSetting"] != "Task":
            candidate["IsBillable"] = None
        if collection == "Jobs" and self.account.company["BillableSetting"] != "Job":
            candidate["IsBillable"] = None
        self._check_rules(collection, candidate)
        candidate.pop("ID", None)
        return self._insert(collection, candidate)

    def _update(self, collection: str, record: dict[str, Any], payload: Any) -> dict[str, Any]:
        values = self._check_fields(collection, payload, creating=False)
        if "CustomFields" in values and self.options.custom_fields_patch == "merge":
            values["CustomFields"] = {**(record.get("CustomFields") or {}), **values["CustomFields"]}
        candidate = {**record, **values}
        for name in REQUIRED[collection]:
            if candidate.get(name) in (None, ""):
                raise ApiError(400, f"{name} is required.", name)
        self._unique(collection, candidate, record["ID"])
        self._check_rules(collection, candidate)
        if (collection == "Jobs" and values.get("IsActive") is True and not record["IsActive"]
                and self.options.refuse_job_reactivation_under_inactive_client):
            client = self.account.records["Clients"][candidate["ClientID"]]
            if not client["IsActive"]:
                raise ApiError(400, "A job cannot be activated while its client is inactive.", "IsActive")
        if collection == "Users" and record["ID"] == self.account.me and values.get("IsActive") is False:
            raise ApiError(400, "You cannot deactivate yourself.", "IsActive")
        record.update(candidate)
        if collection == "Clients" and values.get("IsActive") is False:
            for job in self.account.records["Jobs"].values():
                if job["ClientID"] == record["ID"]:
                    job["IsActive"] = False
        return record

    def _delete(self, collection: str, record: dict[str, Any]) -> None:
        if collection in ("Divisions", "EmploymentTypes"):
            raise ApiError(405, f"{collection} cannot be deleted.")
        jobs = self.account.records["Jobs"].values()
        if collection == "Clients" and any(j["ClientID"] == record["ID"] for j in jobs):
            raise ApiError(400, "This client has jobs and cannot be deleted.")
        if collection == "Users" and record["ID"] == self.account.me:
            raise ApiError(400, "You cannot delete yourself.")
        del self.account.records[collection][record["ID"]]
        for table in (self.account.job_tasks, self.account.job_users):
            table.pop(record["ID"], None)
            for ids in table.values():
                if record["ID"] in ids:
                    ids.remove(record["ID"])

    def _assignments(self, method: str, job: dict[str, Any], kind: str, rest: list[str],
                     query: dict[str, list[str]], payload: Any) -> tuple[int, Any]:
        company = self.account.company
        if kind == "tasks" and company["TaskRestrictionMethod"] != "byjob":
            raise ApiError(400, "Task List Control must be restricted by Job.")
        if kind == "users" and company["JobRestrictionMethod"] != "byperson":
            raise ApiError(400, "Job List Control must be restricted by person.")
        table = self.account.job_tasks if kind == "tasks" else self.account.job_users
        target = "Tasks" if kind == "tasks" else "Users"
        id_field = "TaskID" if kind == "tasks" else "UserID"
        ids = table.setdefault(job["ID"], [])

        def visible() -> list[str]:
            out = list(reversed(ids))  # newest first
            if "IsActive" in query:
                wanted = {_parse_bool(v) for v in query["IsActive"]}
                out = [i for i in out if self.account.records[target][i]["IsActive"] in wanted]
            elif kind == "users" and self.options.assignments_hide_inactive:
                out = [i for i in out if self.account.records[target][i]["IsActive"]]
            return out

        if not rest and method == "GET":
            return 200, {"data": visible()}
        if not rest and method == "POST":
            if not isinstance(payload, dict) or not isinstance(payload.get(id_field), str):
                raise ApiError(400, f"Body must be {{\"{id_field}\": \"...\"}}", id_field)
            new = payload[id_field]
            if new not in self.account.records[target]:
                raise ApiError(400, f"{id_field} {new} not found.", id_field)
            if new in ids:
                if self.options.duplicate_assignment_error:
                    raise ApiError(self.options.duplicate_status, f"{id_field} {new} is already assigned.", id_field)
            else:
                ids.append(new)
            return 201, {"data": visible()}
        if not rest and method == "PUT":
            if not isinstance(payload, list) or not all(isinstance(i, str) for i in payload):
                raise ApiError(400, "Body must be an array of IDs")
            for i in payload:
                if i not in self.account.records[target]:
                    raise ApiError(400, f"{id_field} {i} not found.", id_field)
            ids[:] = list(dict.fromkeys(payload))
            return 200, {"data": visible()}
        if len(rest) == 1 and method == "DELETE":
            if rest[0] not in ids:
                raise ApiError(404, f"{id_field} {rest[0]} is not assigned.", id_field)
            ids.remove(rest[0])
            if self.options.assignment_delete_body:
                return 200, {"data": visible()}
            return 204, None
        raise ApiError(405, "Method not allowed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--profile", default="bills-by-job", choices=sorted(PROFILES))
    parser.add_argument("--set", action="append", default=[], help="an Options field: name=value")
    args = parser.parse_args()
    options = Options(profile=args.profile)
    for text in args.set:
        option_from_text(options, text)
    standin = StandIn(options)
    url = standin.start(args.port)
    print(f"ClickTime stand-in on {url} (token {standin.token!r}); options: {dataclasses.asdict(options)}",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
