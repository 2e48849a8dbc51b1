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
# Validation: presumably 400. Delete: no body, presumably 204.
STATUS_CREATED = 201
STATUS_INVALID = 400
STATUS_NO_CONTENT = 204

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
# strings, newest first. Assigning what is already assigned is refused with 400 (stricter than a
# silent no-op), so callers must diff first.
ASSIGNMENT_BODY_FIELD = {"Tasks": "TaskID", "Users": "UserID"}
REJECT_DUPLICATE_ASSIGNMENT = True
# Company list controls that enable the assignment endpoints (documented values).
ASSIGNMENT_REQUIRES = {
    "Tasks": ("TaskRestrictionMethod", "byjob"),
    "Users": ("JobRestrictionMethod", "byperson"),
}

# A new account's nine tasks. That there are nine is documented; their names and codes are not,
# so these are our guess.
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

# Company settings of a new sandbox account: list controls that allow managing assignments.
DEFAULT_COMPANY = {
    "Name": "Sandbox Company",
    "JobRestrictionMethod": "byperson",
    "TaskRestrictionMethod": "byjob",
    "BillabilityBy": "Job",
    "JobTermSingular": "Project",
}

# The account owner every ClickTime account has: the admin whose token the sandbox acts with.
SANDBOX_OWNER = {"Name": "Sandbox Admin", "Email": "admin@sandbox.example", "SecurityLevel": "ADMIN"}
