"""`reconciler doctor --probe`: a read-only first contact that checks, against the live account,
every read-side assumption ClickTime's documents leave open, with a bounded number of calls.

Each finding is one line with a verdict: the assumption holds; it differs, and what the tool does
about it (adapts, or refuses and why); or the probe cannot tell, and why. The tool reads correctly
either way; the probe tells a user (and a bug report) which way their account answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.clicktime import assumptions
from reconciler.clicktime.client import ClickTimeClient
from reconciler.errors import ApiError, ReconcilerError
from reconciler.model import Kind
from reconciler.rules import assignment_lists_allowed, closed_gates, company_modules, kind_unavailable

HOLDS, DIFFERS, UNKNOWN = "holds", "differs", "cannot tell"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@dataclass(frozen=True)
class Finding:
    name: str
    verdict: str  # HOLDS, DIFFERS or UNKNOWN
    detail: str

    def line(self) -> str:
        return f"[{self.verdict}] {self.name}: {self.detail}"


def _page(client: ClickTimeClient, path: str, query: list[tuple[str, str]]) -> dict[str, Any]:
    body = client.request("GET", path, query)
    if not isinstance(body, dict):
        raise ReconcilerError(f"GET {path} answered {type(body).__name__}, not ClickTime's envelope")
    return body


def _count(body: Mapping[str, Any]) -> int | None:
    page = body.get("page")
    count = page.get("count") if isinstance(page, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def run_probe(client: ClickTimeClient) -> list[Finding]:
    findings: list[Finding] = []

    def check(name: str, probe: Callable[[], Finding]) -> None:
        try:
            findings.append(probe())
        except ApiError as error:
            findings.append(Finding(name, UNKNOWN, f"the account refused the probe ({error})"))
        except ReconcilerError as error:
            findings.append(Finding(name, DIFFERS, f"{error}; the tool refuses such answers"))

    def envelope() -> Finding:
        body = _page(client, "/Tasks", [("IsActive", "true"), ("limit", "1"), ("offset", "0")])
        ok = isinstance(body.get("data"), list) and _count(body) is not None
        return Finding("list envelope {data, page.count}", HOLDS if ok else DIFFERS,
                       f"keys {sorted(body)}" + ("" if ok else "; the tool refuses lists without it"))

    counts: dict[str, int | None] = {}

    def page_count_is_total() -> Finding:
        small = _page(client, "/Tasks", [("IsActive", "true"), ("limit", "1"), ("offset", "0")])
        large = _page(client, "/Tasks", [("IsActive", "true"), ("limit", str(assumptions.REQUESTED_PAGE_SIZE)),
                                         ("offset", "0")])
        counts["active"] = _count(large)
        granted = (large.get("page") or {}).get("limit")
        counts["granted"] = granted if isinstance(granted, int) else None
        same = _count(small) is not None and _count(small) == _count(large)
        return Finding("page.count is the total, whatever the page size", HOLDS if same else DIFFERS,
                       f"count {_count(small)} with limit=1, {_count(large)} with limit="
                       f"{assumptions.REQUESTED_PAGE_SIZE}" + ("" if same else "; the tool refuses such lists"))

    def largest_page() -> Finding:
        granted = counts.get("granted")
        if granted is None:
            return Finding("largest page granted", UNKNOWN, "the answer does not say page.limit; the tool pages by "
                                                            "what arrives")
        if granted >= assumptions.REQUESTED_PAGE_SIZE:
            return Finding("largest page granted", HOLDS, f"{granted} records a page")
        return Finding("largest page granted", DIFFERS, f"{granted} records a page (asked for "
                                                        f"{assumptions.REQUESTED_PAGE_SIZE}): the tool adapts")

    def inactive_hidden() -> Finding:
        plain = _count(_page(client, "/Tasks", [("limit", "1"), ("offset", "0")]))
        inactive = _count(_page(client, "/Tasks", [("IsActive", "false"), ("limit", "1"), ("offset", "0")]))
        counts["inactive"] = inactive
        active = counts.get("active")
        name = "lists hide inactive records unless IsActive is sent"
        if None in (plain, inactive, active):
            return Finding(name, UNKNOWN, "no page.count to compare")
        if not inactive:
            return Finding(name, UNKNOWN, "the account has no inactive task to tell by")
        if plain == active:
            return Finding(name, HOLDS, f"{plain} listed without IsActive = the {active} active")
        return Finding(name, DIFFERS, f"{plain} listed without IsActive (active {active}, inactive {inactive}): the "
                                      "tool always sends IsActive, so it reads both either way")

    def repeated_keys() -> Finding:
        both = _count(_page(client, "/Tasks", [("IsActive", "true"), ("IsActive", "false"), ("limit", "1"),
                                               ("offset", "0")]))
        active, inactive = counts.get("active"), counts.get("inactive")
        name = "repeated query keys reach ClickTime"
        if None in (both, active, inactive):
            return Finding(name, UNKNOWN, "no page.count to compare")
        if not inactive:
            return Finding(name, UNKNOWN, "the account has no inactive task to tell by")
        verdict = HOLDS if both == (active or 0) + (inactive or 0) else DIFFERS
        return Finding(name, verdict, f"{both} with IsActive=true&IsActive=false, {active} + {inactive} apart; the "
                                      "tool never repeats a key, so it reads right either way")

    def nulls_and_dates() -> list[Finding]:
        records: list[dict[str, Any]] = []
        omitted: set[str] = set()
        nulls: set[str] = set()
        for collection in ("Users", "Jobs"):
            template = client.get_object(f"/{collection}/new")
            sample = _page(client, f"/{collection}", [("IsActive", "true"), ("limit", "20"), ("offset", "0")])
            rows = [r for r in sample.get("data") or [] if isinstance(r, dict)]
            known = set(template).union(*(set(r) for r in rows)) if rows else set(template)
            omitted |= {f"{collection}.{k}" for r in rows for k in known if k not in r}
            nulls |= {f"{collection}.{k}" for r in rows for k, v in r.items() if v is None}
            records += rows
        name = "unset fields come back as null"
        if omitted:
            first = Finding(name, DIFFERS, f"left out instead: {', '.join(sorted(omitted)[:6])}; the tool reads a "
                                           "field the account supports but leaves out as unset")
        elif nulls:
            first = Finding(name, HOLDS, f"null: {', '.join(sorted(nulls)[:6])}")
        else:
            first = Finding(name, UNKNOWN, "no user or job has an unset field to tell by")
        dates = [str(r.get(f)) for r in records for f in ("StartDate", "EndDate") if r.get(f)]
        if not dates:
            second = Finding("dates are plain YYYY-MM-DD", UNKNOWN, "no user or job has a date to tell by")
        elif all(_DATE.match(d) for d in dates):
            second = Finding("dates are plain YYYY-MM-DD", HOLDS, f"e.g. {dates[0]}")
        else:
            shown = next(d for d in dates if not _DATE.match(d))
            how = "the tool compares them as dates and writes plain dates" if _DATE_TIME.match(shown) else \
                "an unknown form: dates may show as changes; report it"
            second = Finding("dates are plain YYYY-MM-DD", DIFFERS, f"e.g. {shown}: {how}")
        return [first, second]

    def settings() -> list[Finding]:
        company = client.company()
        allowed = assignment_lists_allowed(company)
        lists = ", ".join(f"job {n}: {'on' if ok else 'off'}" for n, ok in allowed.items())
        gates = "; ".join(g.reason for g in closed_gates(company)) or "none closed"
        modules = ", ".join(sorted(company_modules(company))) or "none"
        found = [
            Finding("list controls", HOLDS if all(allowed.values()) else DIFFERS,
                    f"{lists} (JobRestrictionMethod={company.get('JobRestrictionMethod')!r}, TaskRestrictionMethod="
                    f"{company.get('TaskRestrictionMethod')!r})" + ("" if all(allowed.values()) else
                                                                    "; plans refuse the lists that are off")),
            Finding("billability, approvals, modules", HOLDS,
                    f"BillableSetting={company.get('BillableSetting')!r}, EnableProjectApprovals="
                    f"{company.get('EnableProjectApprovals')!r}, modules: {modules}; gated: {gates}"),
        ]
        for kind in (Kind.CLIENT, Kind.JOB, Kind.TASK, Kind.USER):
            try:
                defined = client.list_pages(f"{kind.collection}/CustomFieldDefinitions", [])
            except ApiError as error:
                found.append(Finding(f"custom fields of {kind.section}", UNKNOWN, f"not readable ({error.status})"))
                continue
            names = [f"{d.get('Name')}{' (required)' if d.get('IsRequired') else ''}" for d in defined]
            found.append(Finding(f"custom fields of {kind.section}", HOLDS, ", ".join(names) or "none defined"))
        if kind_unavailable(Kind.DIVISION, company):
            found.append(Finding("divisions", DIFFERS, "no Corporate or Enterprise module: plans refuse divisions"))
        return found

    def assignment_endpoints() -> Finding:
        jobs = _page(client, "/Jobs", [("IsActive", "true"), ("limit", "1"), ("offset", "0")]).get("data") or []
        if not jobs:
            return Finding("assignment endpoints answer", UNKNOWN, "the account has no active job to ask about")
        answers = []
        for sub in ("Tasks", "Users"):
            try:
                answers.append(f"{sub}: {len(client.assigned_ids(str(jobs[0]['ID']), sub))} assigned")
            except ApiError as error:
                answers.append(f"{sub}: refused (HTTP {error.status})")
        refused = any("refused" in a for a in answers)
        return Finding("assignment endpoints answer", DIFFERS if refused else HOLDS, "; ".join(answers))

    def reverse_reads() -> Finding:
        """One job's lists checked the other way round: each member's reverse read names the job,
        and one non-member's does not. Plans read in the cheaper direction only when this holds
        (they re-check a few jobs every run)."""
        name = "assignments read per task and per user agree with per-job reads"
        jobs = _page(client, "/Jobs", [("IsActive", "true"), ("limit", "1"), ("offset", "0")]).get("data") or []
        if not jobs:
            return Finding(name, UNKNOWN, "the account has no active job to ask about")
        job_id = str(jobs[0]["ID"])
        allowed = assignment_lists_allowed(client.company())
        checks, wrong = 0, []
        for list_name, sub, collection, jobs_of in (
                ("tasks", "Tasks", "Tasks", client.task_job_ids),
                ("users", "Users", "Users", lambda user_id: client.user_job_ids(user_id, True))):
            if not allowed[list_name]:
                continue
            members = client.assigned_ids(job_id, sub)
            listed = _page(client, f"/{collection}", [("IsActive", "true"), ("limit", "20"), ("offset", "0")])
            outsider = next((str(r["ID"]) for r in listed.get("data") or [] if str(r["ID"]) not in members), None)
            for target in [*members[:3], *([outsider] if outsider else [])]:
                checks += 1
                if (job_id in jobs_of(target)) != (target in members):
                    wrong.append(f"{sub[:-1].lower()} {target}")
        if not checks:
            return Finding(name, UNKNOWN, "the job has nothing assigned to tell by")
        if wrong:
            return Finding(name, DIFFERS, f"{len(wrong)} of {checks} disagree ({', '.join(wrong[:3])}): plans read "
                                          "every job's lists on their own (one call per job and list)")
        return Finding(name, HOLDS, f"{checks} checks agree: plans read assignments per task and per user when that "
                                    "takes fewer calls, and re-check a few jobs both ways every run")

    def assignments_show_inactive() -> Finding:
        """An inactive task or user assigned to a job, found from its side, then looked for in the
        job's list read without IsActive (whether such reads hide inactive members is open)."""
        name = "assignment lists include inactive members"
        allowed = assignment_lists_allowed(client.company())
        for list_name, sub, jobs_of in (("tasks", "Tasks", client.task_job_ids),
                                        ("users", "Users", lambda user_id: client.user_job_ids(user_id, True))):
            if not allowed[list_name]:
                continue
            inactive = _page(client, f"/{sub}", [("IsActive", "false"), ("limit", "5"), ("offset", "0")])
            for member in [str(r["ID"]) for r in inactive.get("data") or [] if isinstance(r, dict)][:3]:
                jobs = jobs_of(member)
                if not jobs:
                    continue
                listed = _page(client, f"/Jobs/{jobs[0]}/{sub}", []).get("data")
                if not isinstance(listed, list):
                    raise ReconcilerError(f"GET /Jobs/{{id}}/{sub} answered without a data list")
                if member in [str(i) for i in listed]:
                    return Finding(name, HOLDS, f"an inactive {sub[:-1].lower()} is listed without IsActive")
                return Finding(name, DIFFERS, f"an inactive {sub[:-1].lower()} is left out unless IsActive=false is "
                                              "sent; the tool reads inactive members apart once it has seen some")
        return Finding(name, UNKNOWN, "no inactive task or user is assigned to a job to tell by")

    check("list envelope", envelope)
    check("page.count", page_count_is_total)
    check("largest page", largest_page)
    check("inactive records", inactive_hidden)
    check("repeated query keys", repeated_keys)
    for name, many in (("fields and dates", nulls_and_dates), ("account settings", settings)):
        try:
            findings.extend(many())
        except ApiError as error:
            findings.append(Finding(name, UNKNOWN, f"the account refused the probe ({error})"))
        except ReconcilerError as error:
            findings.append(Finding(name, DIFFERS, str(error)))
    check("assignment endpoints", assignment_endpoints)
    check("reverse assignment reads", reverse_reads)
    check("inactive assignment members", assignments_show_inactive)
    return findings
