"""ClickTime REST API v2 emulator: answers Requests with Responses, enforcing ClickTime's rules.

It speaks the real wire format (PascalCase fields, {"data", "page"} envelope, limit/offset paging,
{"errors": [...]} bodies) so that the reconciler's client code is the same for every backend.
What the account accepts depends on its profile (profiles.py: company settings, modules, custom
fields); field checks live in rules.py. Rules taken from the documentation are enforced as
documented; unknowns follow reconciler.clicktime.assumptions (always the stricter plausible
behaviour).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

from reconciler.clicktime import assumptions as A
from reconciler.clicktime.keys import NATURAL_KEYS
from reconciler.clicktime.transport import Request, Response
from reconciler.sandbox import rules
from reconciler.sandbox.profiles import DEFAULT_PROFILE, Profile, Quirks, from_dict, load_profile
from reconciler.sandbox.rules import RULES, CollectionRules, Refusal, invalid
from reconciler.sandbox.store import Store

__all__ = ["RULES", "CollectionRules", "Emulator", "Refusal", "invalid"]

FILTERS = {
    "Clients": ("ID", "Name", "ShortName", "ClientNumber"),
    "Tasks": ("ID", "Name", "TaskCode"),
    "Users": ("ID", "Name", "Email", "SecurityLevel", "DivisionID"),
    "Jobs": ("ID", "Name", "JobNumber", "ClientID", "ProjectManagerID"),
    "Divisions": ("ID", "Name"),
    "EmploymentTypes": ("ID", "Name"),
}
# Query parameters that read assignments the other way round: (sub-collection, linked side).
REVERSE_FILTERS = {"Jobs": ("UserID", "Users"), "Users": ("JobID", "Users")}
ALL = "Clients|Jobs|Tasks|Users|Divisions|EmploymentTypes"
DELETABLE = "Clients|Jobs|Tasks|Users"  # Divisions and EmploymentTypes have no DELETE
WITH_DEFINITIONS = "|".join(rules.CUSTOM_FIELD_KINDS)
Definitions = dict[str, list[dict[str, Any]]]


def envelope(data: Any, status: int = 200, page: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"data": data}
    if page is not None:
        body["page"] = page
    return Response(status, body, {"Content-Type": "application/json"})


def error_response(refusal: Refusal) -> Response:
    item: dict[str, Any] = {"Field": refusal.field, "Message": refusal.message, "MessageDetail": []}
    return Response(refusal.status, {"data": None, "errors": [item]}, {"Content-Type": "application/json"})


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query:
        params.setdefault(name, []).append(value)
    return params


class Emulator:
    """One ClickTime account. `handle` is safe to call from several threads.

    `quirks` (from the profile, changeable at run time) and `duplicate_status` (the status of
    every uniqueness refusal) belong to this object; everything else lives in the store."""

    def __init__(self, store: Store, caller_email: str | None = None) -> None:
        self.store = store
        self.lock = threading.RLock()
        self.caller_email = caller_email  # None: the account owner
        self._acting_as: str | None = caller_email
        self.max_page_size = A.MAX_PAGE_SIZE
        self.duplicate_status = A.STATUS_DUPLICATE
        self.quirks = Quirks()
        self._generation: str | None = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("GET", re.compile(r"/Company"), self._get_company),
            ("GET", re.compile(r"/Me"), self._get_me),
            ("GET", re.compile(r"/CustomFieldDefinitions"), self._list_all_definitions),
            ("GET", re.compile(r"/CustomFieldDefinitions/([^/]+)"), self._get_any_definition),
            ("GET", re.compile(rf"/({WITH_DEFINITIONS})/CustomFieldDefinitions"), self._list_definitions),
            ("GET", re.compile(rf"/({WITH_DEFINITIONS})/CustomFieldDefinitions/([^/]+)"), self._get_definition),
            ("GET", re.compile(r"/Jobs/([^/]+)/(Tasks|Users)"), self._get_assigned),
            ("POST", re.compile(r"/Jobs/([^/]+)/(Tasks|Users)"), self._assign),
            ("PUT", re.compile(r"/Jobs/([^/]+)/(Tasks|Users)"), self._replace_assigned),
            ("DELETE", re.compile(r"/Jobs/([^/]+)/(Tasks|Users)/([^/]+)"), self._unassign),
            ("GET", re.compile(r"/Tasks/([^/]+)/Jobs"), self._get_task_jobs),
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
        else:
            self._load_quirks()

    @classmethod
    def open(cls, path: str, caller_email: str | None = None) -> Emulator:
        return cls(Store(path), caller_email)

    def close(self) -> None:
        self.store.close()

    # -- account lifecycle -----------------------------------------------------------
    def reset(self, profile: Profile | None = None, salt: str = "sandbox") -> None:
        """A fresh account of `profile` (the default profile when None): company settings,
        custom-field definitions, the owner, and the nine default tasks."""
        profile = profile or load_profile(DEFAULT_PROFILE)
        with self.lock:
            self.store.clear()
            self.store.set_setting("salt", salt)
            self.store.set_setting("company", profile.company_body())
            self.store.set_setting("profile", profile.to_dict())
            self.store.set_setting("custom_fields", profile.definitions())
            # Another Emulator on the same file notices the reset and reloads its quirks.
            self.store.set_setting("generation", secrets.token_hex(8))
            owner = self._insert("Users", dict(A.SANDBOX_OWNER))
            self.store.set_setting("owner", owner["ID"])
            for code, name in A.DEFAULT_TASKS:
                self._insert("Tasks", {"TaskCode": code, "Name": name})
            self._load_quirks()

    @property
    def profile(self) -> Profile:
        """The profile the account was last reset to (set_company changes only the company)."""
        stored = self.store.get_setting("profile")
        return from_dict(stored, "stored profile") if stored else load_profile(DEFAULT_PROFILE)

    def _load_quirks(self) -> None:
        self._generation = self.store.get_setting("generation")
        self.quirks = Quirks(**self.profile.quirks)

    def _current_quirks(self) -> Quirks:
        if self.store.get_setting("generation") != self._generation:
            self._load_quirks()
        return self.quirks

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
                        self._check_endpoint(path)
                        if request.method.upper() == "GET":
                            return handler(request, *match.groups())
                        with self.store.transaction():
                            return handler(request, *match.groups())
                raise Refusal(404, f"No route for {request.method} {request.path}")
            except Refusal as refusal:
                return error_response(refusal)

    # -- account state -------------------------------------------------------------------
    def _check_endpoint(self, path: str) -> None:
        collection = path.split("/")[1]
        if collection in rules.ENDPOINT_GATES:
            refusal = rules.endpoint_refusal(collection, self._company())
            if refusal is not None:
                raise refusal

    def _company(self) -> dict[str, Any]:
        company: dict[str, Any] = self.store.get_setting("company") or {}
        return company

    def _definitions(self) -> Definitions:
        definitions: Definitions = self.store.get_setting("custom_fields") or {}
        return definitions

    def _hidden(self, collection: str) -> frozenset[str]:
        return rules.closed_fields(collection, self._company(), self._definitions())

    def _present(self, collection: str, record: dict[str, Any]) -> dict[str, Any]:
        return rules.present(record, self._hidden(collection))

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
        return envelope(self._company())

    def _get_me(self, request: Request) -> Response:
        return envelope(self._present("Users", self._caller()))

    def _get_template(self, request: Request, collection: str) -> Response:
        # Gated fields are left out: a client can tell what this account supports from /X/new.
        return envelope(self._present(collection, dict(RULES[collection].defaults)))

    def _list(self, request: Request, collection: str) -> Response:
        params = _params(request)
        reverse = REVERSE_FILTERS.get(collection)
        known = {"limit", "offset", "IsActive", "Verbose", *FILTERS[collection], *([reverse[0]] if reverse else [])}
        unknown = set(params) - known
        if unknown:
            raise invalid(f"Unknown query parameter(s): {', '.join(sorted(unknown))}")
        limit = max(1, min(self._int_param(params, "limit", self.max_page_size), self.max_page_size))
        offset = self._int_param(params, "offset", 0)
        filters = {name: params[name] for name in FILTERS[collection] if name in params}
        within = self._reverse_condition(collection, params)
        records, count = self.store.page(collection, self._active_filter(params), filters, limit, offset, within)
        hidden = self._hidden(collection)
        base = f"/{collection}"
        nxt = f"{base}?limit={limit}&offset={offset + limit}" if offset + limit < count else None
        prev = f"{base}?limit={limit}&offset={max(0, offset - limit)}" if offset > 0 else None
        page = {"count": count, "limit": limit, "offset": offset,
                "links": {"self": f"{base}?limit={limit}&offset={offset}", "first": f"{base}?limit={limit}&offset=0",
                          "previous": prev, "next": nxt, "last": None}}
        return envelope([rules.present(r, hidden) for r in records], page=page)

    def _active_filter(self, params: dict[str, list[str]]) -> list[bool] | None:
        if "IsActive" in params:
            return [self._bool_param(v) for v in params["IsActive"]]
        return [True] if A.LISTS_HIDE_INACTIVE_BY_DEFAULT else None

    def _reverse_condition(self, collection: str, params: dict[str, list[str]]) -> tuple[str, list[Any]] | None:
        """GET /Jobs?UserID= (jobs those users are assigned to), GET /Users?JobID= (users assigned
        to those jobs): under the same list control as the assignment endpoints."""
        reverse = REVERSE_FILTERS.get(collection)
        if reverse is None or reverse[0] not in params:
            return None
        name, sub = reverse
        self._check_list_control(sub)
        skip = self._current_quirks().reverse_reads_disagree
        if collection == "Jobs":
            return self.store.linked(sub, targets=params[name], skip_newest=skip)
        return self.store.linked(sub, jobs=params[name], skip_newest=skip)

    def _get(self, request: Request, collection: str, record_id: str) -> Response:
        return envelope(self._present(collection, self._existing(collection, record_id)))

    @staticmethod
    def _int_param(params: dict[str, list[str]], name: str, default: int) -> int:
        if name not in params:
            return default
        try:
            value = int(params[name][-1])
        except ValueError:
            raise invalid(f"{name} must be an integer", name) from None
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

    # -- custom-field definitions (read-only: the profile defines them) ----------------------
    def _list_definitions(self, request: Request, collection: str) -> Response:
        return self._definition_page(request, self._definitions().get(collection, []), f"/{collection}")

    def _get_definition(self, request: Request, collection: str, definition_id: str) -> Response:
        for definition in self._definitions().get(collection, []):
            if definition["ID"] == definition_id:
                return envelope(definition)
        raise Refusal(404, f"Custom field definition {definition_id} not found for {collection}")

    def _list_all_definitions(self, request: Request) -> Response:
        self._require_admin("list custom field definitions")
        everything = [d for kind in rules.CUSTOM_FIELD_KINDS for d in self._definitions().get(kind, [])]
        params = _params(request)
        for name in ("ID", "DataType", "EntityType", "IsRequired"):
            if name in params:
                wanted = {v.lower() for v in params[name]} if name == "IsRequired" else set(params[name])
                everything = [d for d in everything
                              if (str(d[name]).lower() if name == "IsRequired" else d[name]) in wanted]
        return self._definition_page(request, everything, "", extra=("ID", "DataType", "EntityType", "IsRequired"))

    def _get_any_definition(self, request: Request, definition_id: str) -> Response:
        self._require_admin("read custom field definitions")
        for kind in rules.CUSTOM_FIELD_KINDS:
            for definition in self._definitions().get(kind, []):
                if definition["ID"] == definition_id:
                    return envelope(definition)
        raise Refusal(404, f"Custom field definition {definition_id} not found")

    def _definition_page(self, request: Request, definitions: list[dict[str, Any]], base: str,
                         extra: tuple[str, ...] = ()) -> Response:
        params = _params(request)
        unknown = set(params) - {"limit", "offset", *extra}
        if unknown:
            raise invalid(f"Unknown query parameter(s): {', '.join(sorted(unknown))}")
        limit = max(1, min(self._int_param(params, "limit", self.max_page_size), self.max_page_size))
        offset = self._int_param(params, "offset", 0)
        ordered = sorted(definitions, key=lambda d: (d["DisplayName"].lower(), d["ID"]))  # spec: by DisplayName
        path = f"{base}/CustomFieldDefinitions"
        page = {"count": len(ordered), "limit": limit, "offset": offset,
                "links": {"self": f"{path}?limit={limit}&offset={offset}", "first": f"{path}?limit={limit}&offset=0",
                          "previous": None, "next": None, "last": None}}
        return envelope(ordered[offset:offset + limit], page=page)

    # -- writes ------------------------------------------------------------------------
    def _check_body(self, collection: str, body: Any, creating: bool) -> dict[str, Any]:
        return rules.check_body(collection, body, creating, self._company(), self._definitions(),
                                lambda kind, value: self.store.get(kind, value) is not None)

    def _create(self, request: Request, collection: str) -> Response:
        body = self._check_body(collection, request.body, creating=True)
        if collection == "Users" and body.get("SecurityLevel", "STANDARD") != "STANDARD":
            self._require_admin("set SecurityLevel")
        record = self._insert(collection, body)
        return envelope(self._present(collection, record), status=A.STATUS_CREATED)

    def _insert(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        record = {"ID": self.store.new_id(), **RULES[collection].defaults, **body}
        if collection == "Clients":
            record["CreatedDate"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._check_record(collection, record, body)
        self._save(collection, record)
        return record

    def _update(self, request: Request, collection: str, record_id: str) -> Response:
        current = self._existing(collection, record_id)
        body = self._check_body(collection, request.body, creating=False)
        record = {**current, **body}
        self._check_record(collection, record, body)
        self._save(collection, record)
        if collection == "Clients" and current.get("IsActive") and not record["IsActive"]:
            # Documented: inactivating a client inactivates all its jobs (not undone on reactivation).
            for job in self.store.children(record_id):
                if job.get("IsActive"):
                    self._save("Jobs", {**job, "IsActive": False})
        if collection == "Clients" and record["Name"] != current["Name"]:
            for job in self.store.children(record_id):
                self._save("Jobs", job)  # refresh ListDisplayText and sort order
        return envelope(self._present(collection, record))

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
        key = NATURAL_KEYS.get(collection, ("Name",))[-1]  # a job is named by its number
        return str(record.get(key))

    def _check_record(self, collection: str, record: dict[str, Any], body: dict[str, Any]) -> None:
        """Rules that span fields and records: dependent fields and uniqueness."""
        rules.check_dependent_fields(collection, record, body)
        k1, k2, _, _ = self._index_columns(collection, record)
        for column, value, what in (("k1", k1, self._k1_label(collection)), ("k2", k2, self._k2_label(collection))):
            if value is None:
                continue
            other = self.store.find_id(collection, column, value)
            if other and other != record["ID"]:
                raise Refusal(self.duplicate_status, f"{what} must be unique", what.split()[-1])

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
        actual = self._company().get(setting)
        if actual != wanted:
            raise Refusal(403, f"{sub[:-1]} assignment needs the company setting {setting}={wanted} (it is {actual})")

    def _assigned_now(self, job_id: str, sub: str, request: Request | None = None) -> list[str]:
        ids = self.store.assigned(job_id, sub)
        params = _params(request) if request is not None else {}
        unknown = set(params) - {"IsActive"}
        if unknown:
            raise invalid(f"Unknown query parameter(s): {', '.join(sorted(unknown))}")
        if "IsActive" in params:
            wanted = {self._bool_param(v) for v in params["IsActive"]}
            ids = [i for i in ids if bool((self.store.get(sub, i) or {}).get("IsActive", True)) in wanted]
        return ids

    def _get_assigned(self, request: Request, job_id: str, sub: str) -> Response:
        self._check_list_control(sub)
        self._existing("Jobs", job_id)
        return envelope(self._assigned_now(job_id, sub, request))

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
                raise Refusal(self.duplicate_status, f"{sub[:-1]} {target_id} is already assigned to this job", field)
        else:
            self.store.assign(job_id, sub, target_id)
        return envelope(self.store.assigned(job_id, sub), status=A.STATUS_CREATED)

    def _replace_assigned(self, request: Request, job_id: str, sub: str) -> Response:
        """PUT: the body (an array of IDs) becomes the whole set; quirks.put_merges only adds."""
        self._check_list_control(sub)
        self._existing("Jobs", job_id)
        wanted = request.body
        if not isinstance(wanted, list) or not all(isinstance(i, str) for i in wanted):
            raise invalid(f"Request body must be a JSON array of {sub[:-1]} IDs")
        field = A.ASSIGNMENT_BODY_FIELD[sub]
        for target_id in wanted:
            if self.store.get(sub, target_id) is None:
                raise invalid(f"{field} {target_id!r} does not exist", field)
        if A.REJECT_DUPLICATE_IDS_IN_PUT and len(set(wanted)) != len(wanted):
            twice = next(i for i in wanted if wanted.count(i) > 1)
            raise invalid(f"{field} {twice!r} is named twice", field)
        current = self.store.assigned(job_id, sub)
        if not self._current_quirks().put_merges:
            for target_id in current:
                if target_id not in wanted:
                    self.store.unassign(job_id, sub, target_id)
        for target_id in wanted:
            if target_id not in current:
                self.store.assign(job_id, sub, target_id)
        return envelope(self.store.assigned(job_id, sub))

    def _unassign(self, request: Request, job_id: str, sub: str, target_id: str) -> Response:
        self._check_list_control(sub)
        self._existing("Jobs", job_id)
        if not self.store.unassign(job_id, sub, target_id):
            raise Refusal(404, f"{sub[:-1]} {target_id} is not assigned to this job")
        return envelope(self.store.assigned(job_id, sub))  # the spec's StringObject: what remains

    def _get_task_jobs(self, request: Request, task_id: str) -> Response:
        """GET /Tasks/{id}/Jobs: the jobs this task is assigned to, newest first."""
        self._check_list_control("Tasks")
        self._existing("Tasks", task_id)
        params = _params(request)
        unknown = set(params) - {"IsActive"}
        if unknown:
            raise invalid(f"Unknown query parameter(s): {', '.join(sorted(unknown))}")
        ids = self.store.jobs_of("Tasks", task_id, skip_newest=self._current_quirks().reverse_reads_disagree)
        if "IsActive" in params:
            wanted = {self._bool_param(v) for v in params["IsActive"]}
            ids = [i for i in ids if bool((self.store.get("Jobs", i) or {}).get("IsActive", True)) in wanted]
        return envelope(ids)

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
        params = _params(request)
        filters = ("JobID", "ClientID", "UserID", "TaskID")
        unknown = set(params) - {"limit", "offset", "StartDate", "EndDate", *filters}
        if unknown:
            raise invalid(f"Unknown query parameter(s): {', '.join(sorted(unknown))}")
        limit = max(1, min(self._int_param(params, "limit", self.max_page_size), self.max_page_size))
        offset = self._int_param(params, "offset", 0)
        start, end = params.get("StartDate", [""])[-1], params.get("EndDate", ["9999-12-31"])[-1]
        by_task = self._company().get("BillableSetting") == "Task"
        rows = []
        for entry in self.store.time_entries():
            job = self.store.get("Jobs", entry["JobID"]) or {}
            source = (self.store.get("Tasks", entry["TaskID"]) or {}) if by_task else job
            row = {**entry, "ClientID": job.get("ClientID"), "IsBillable": source.get("IsBillable", True)}
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
            return {"company": self._company(), "profile": self.profile.name, "counts": counts,
                    "time_entries": len(self.store.time_entries())}
