"""Every assumption this project makes about the real ClickTime service, in one place.

Each entry says what we assume and why; the emulator enforces these, the client relies on them.
Sources are in ../shared/reference/clicktime-api.md. Where the real behaviour is unknown we pick
the stricter plausible behaviour, so that code passing against the emulator has a margin.
Replace an entry (and its emulator rule) once a recording from a real account settles it.
"""

from __future__ import annotations

# Page size. Neither default nor maximum is documented; working code uses limit=1000. The
# emulator clamps larger requests to this, and the client always reads page.limit back.
MAX_PAGE_SIZE = 1000
REQUESTED_PAGE_SIZE = 1000
# Safety cap on pages per list: 1000 pages x 1000 records is far beyond any real account.
MAX_PAGES = 1000

# Whether lists include inactive records without an IsActive filter is undocumented. Stricter:
# they do not, so the client must ask for both (IsActive=true&IsActive=false) to see everything.
LISTS_HIDE_INACTIVE_BY_DEFAULT = True

# Status codes. Create: 200 or 201 unknown (client accepts any 2xx; emulator answers 201).
# Validation: presumably 400. Delete of an entity: no body, presumably 204.
STATUS_CREATED = 201
STATUS_INVALID = 400
STATUS_NO_CONTENT = 204
# A duplicate (a taken unique key, an assignment that exists): 400, 409 or 422 is undocumented.
# The emulator answers 400 by default; Emulator.duplicate_status switches it (e.g. to 409).
STATUS_DUPLICATE = 400

# Documented limit for names and emails; undocumented for ShortName, JobNumber and TaskCode, where
# we assume the same 50 characters (stricter than none).
MAX_TEXT_LENGTH = 50

# Fields a POST/PATCH body may not name are answered with 400 rather than silently ignored
# (stricter than ignoring, which some APIs do). Read-only fields are likewise refused.
REJECT_UNKNOWN_FIELDS = True

# Division and employment-type names: uniqueness is undocumented; we assume unique (they are the
# reconciler's natural keys). Neither has a DELETE endpoint (documented).
NAMED_KINDS_UNIQUE_BY_NAME = True

# Email uniqueness scope is undocumented; we assume company-wide and case-insensitive.
EMAIL_UNIQUE_CASE_INSENSITIVE = True

# SecurityLevel is in no PATCH model: the emulator answers a PATCH naming it with 400.
SECURITY_LEVEL_CREATE_ONLY = True

# Deletes: people and tasks with history cannot be deleted (documented). We assume the same for
# jobs and clients, and that a client with jobs cannot be deleted either. Deletes are Admin only.
DELETE_REFUSED_WITH_HISTORY = True
DELETE_REFUSED_FOR_CLIENT_WITH_JOBS = True

# Assignment endpoints: POST bodies are {"TaskID": id} / {"UserID": id}; GET returns bare ID
# strings, newest first. Assigning what is already assigned is refused (with STATUS_DUPLICATE;
# stricter than a silent no-op), so callers must diff first.
ASSIGNMENT_BODY_FIELD = {"Tasks": "TaskID", "Users": "UserID"}
REJECT_DUPLICATE_ASSIGNMENT = True
# Company list controls that enable the assignment endpoints (documented values). The same gates
# apply to the reverse reads (GET /Jobs?UserID=, GET /Users?JobID=, GET /Tasks/{id}/Jobs) and to
# PUT; a closed gate is answered 403, as the spec maps 403 on these endpoints.
ASSIGNMENT_REQUIRES = {
    "Tasks": ("TaskRestrictionMethod", "byjob"),
    "Users": ("JobRestrictionMethod", "byperson"),
}
# DELETE /Jobs/{id}/Tasks|Users/{id} answers 200 with the remaining IDs ({"data": [...]}): the
# spec's StringObject answer (WithTaskItemRequestBuilder.cs). Entity deletes keep no body.
# PUT /Jobs/{id}/Tasks|Users (body: an array of IDs) replaces the whole set and answers the new
# set, newest first (presumed from the name and the spec's StringObject answer). An ID named twice
# in one PUT body is refused (stricter than folding it).
PUT_REPLACES_ASSIGNMENTS = True
REJECT_DUPLICATE_IDS_IN_PUT = True
# Whether assignment GETs hide inactive targets is open: without IsActive they return every
# assigned ID; IsActive=true/false (a spec parameter) filters on the target's IsActive.
# The client does not rely on this: once it has seen inactive targets of a kind, it also reads
# the inactive ones apart (IsActive=false) until an unfiltered read shows one (ClickTimeClient.assigned_ids).
ASSIGNMENT_READS_HIDE_INACTIVE = False

# A new account's nine tasks. That there are nine is documented; their names and codes are not,
# so these are our guess. Nothing outside the emulator may rely on these codes.
DEFAULT_TASKS: tuple[tuple[str, str], ...] = (
    ("ADMIN", "Administrative"),
    ("BD", "Business Development"),
    ("CM", "Client Meeting"),
    ("CONS", "Consulting"),
    ("IM", "Internal Meeting"),
    ("PM", "Project Management"),
    ("QA", "Quality Assurance"),
    ("RES", "Research"),
    ("TRN", "Training"),
)

# -- company settings and the fields they gate ----------------------------------------------
# The company's settings come from the account's profile (reconciler/sandbox/profiles/*.yaml).
# Field names and enums are the spec's (Models/Get/CompanyModel_Root*.cs): BillableSetting
# (Job | Task; there is no "BillabilityBy"), JobRestrictionMethod (none | myjobs | bydivision |
# byperson), TaskRestrictionMethod (byjob | mytasks), EnableProjectApprovals, BillingRateModel,
# OptionalModules.
# "Task controls disabled" (the documented default of a new account) has no value in the spec's
# enum: we represent it as TaskRestrictionMethod null (present, null), which no client can mistake
# for byjob and which closes the job-task assignment endpoints like mytasks does.
TASK_CONTROLS_DISABLED = None
# OptionalModules is a free-form object in the spec. We model it as {module name: true} for the
# modules an account has, named as the spec's requirement texts spell them ("Corporate",
# "Enterprise", "Resource Management"). A new account has none.
# A new account's billability setting and billing-rate model are undocumented: Job and USER.
DEFAULT_BILLING_RATE_MODEL = "USER"

# Fields the spec marks with a company requirement (e.g. Job IsBillable: "Billability by: Job";
# TimeRequiresApproval: "Job Approvals: enabled"; DivisionID and /Divisions: module Corporate or
# Enterprise; BillingRate and friends: the billing-rate model; IncludeInRM: module Resource
# Management; CustomFields: definitions configured for that kind). Whether the real API refuses
# or silently drops such a write is undocumented. Stricter: refused with 400, naming the field and
# the setting. A dropped write would make every later plan show the same change again, so the
# tool must not send them either way.
GATED_WRITES_REFUSED = True
# The spec says such fields are returned "only if" the requirement holds: GET answers and the
# /X/new templates leave them out, so a client can tell a supported field (in /X/new) from a
# gated one (absent). The stored value survives a later change of the setting.
GATED_FIELDS_OMITTED_IN_READS = True
# The /Divisions endpoints without Corporate or Enterprise: answered 400 like a gated field
# (the status is undocumented; 403 would be as plausible), reads included.
STATUS_MODULE_MISSING = 400
# "Company must be nonprofit" (IsEligibleTimeOffAllocation) and the user fields that need
# "Expense Permission", "Timesheet Approval Permission", "Time Off Management Permission" or
# "Salaried Costs" name no company field a client could read, so the emulator accepts them on
# every account (the tool never writes them). Their dependent rules hold: TimesheetApproverID
# needs SubjectToTimesheetApproval=true, ExpenseApproverID needs SubjectToExpenseApproval=true,
# CostPerTimesheet needs CostModel=Salary.
# The spec states types, not defaults, for the unmanaged fields (BillingRate, IncludeInRM, ...):
# the emulator's defaults (0.0, false, INHERIT, Hourly, Week, WeekView, AMPM, NotSubject) are ours.

# Administrators cannot be created through the API: POST /Users allows STANDARD and MANAGER only
# (Models/Post/UserModel_Root_SecurityLevel.cs). Refused with 400 (stricter than coercing to
# STANDARD). ClickTime's UI promotes people under Company > People.
ADMIN_CREATE_REFUSED = True

# Custom fields (support 212207663; spec: CustomFields is a free-form object). Keys are the
# definition's internal Name (DisplayName and ID are the alternatives; undocumented). A key with
# no definition for that kind is refused with 400. Values are typed JSON by DataType (Text: string,
# Number: number, Date: YYYY-MM-DD, Pulldown: one of PulldownValues, Checkbox: true/false; the
# DataType names are ours). A required definition must have a value on create, and whenever a
# PATCH writes CustomFields, because a PATCH replaces the whole map (stricter than merging: a client
# that sends the full map works under both).
CUSTOM_FIELDS_KEYED_BY_NAME = True
CUSTOM_FIELDS_PATCH_REPLACES = True
# Definitions are read at /{Clients|Jobs|Tasks|Users|Divisions}/CustomFieldDefinitions[/{id}]
# (paged, sorted by DisplayName) and /CustomFieldDefinitions (all kinds; filters ID, DataType,
# EntityType, IsRequired). EntityType values (Client, Job, Task, User, Division) are ours.

# The account owner every ClickTime account has: the admin whose token the sandbox acts with.
SANDBOX_OWNER = {"Name": "Sandbox Admin", "Email": "admin@sandbox.example", "SecurityLevel": "ADMIN"}
