"""The emulator enforces ClickTime's documented rules and our stricter assumptions."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.clicktime import assumptions
from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.transport import Request, Response
from reconciler.errors import ApiError, IncompleteFetchError
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.profiles import load_profile
from reconciler.sandbox.transport import SandboxTransport


@pytest.fixture
def emu() -> Emulator:
    return Emulator.open(":memory:")


@pytest.fixture
def ct(emu: Emulator) -> ClickTimeClient:
    return ClickTimeClient(SandboxTransport(emu))


def refused(call, status: int = 400) -> str:
    with pytest.raises(ApiError) as info:
        call()
    assert info.value.status == status
    return str(info.value)


def call(emu: Emulator, method: str, path: str, body: Any = None, *query: tuple[str, str]) -> Response:
    return emu.handle(Request(method, path, tuple(query), body))


def ok(emu: Emulator, method: str, path: str, body: Any = None, *query: tuple[str, str]) -> Any:
    response = call(emu, method, path, body, *query)
    assert 200 <= response.status < 300, response.body
    return response.body["data"]


def message(response: Response, status: int = 400) -> str:
    assert response.status == status, response.body
    return str(response.body["errors"][0]["Message"])


def job_with_client(emu: Emulator, number: str = "1", client: str = "ACME") -> dict[str, Any]:
    clients = ok(emu, "GET", "/Clients", None, ("ShortName", client))
    if not clients:
        clients = [ok(emu, "POST", "/Clients", {"Name": client, "ShortName": client})]
    client_id = clients[0]["ID"]
    return ok(emu, "POST", "/Jobs", {"Name": f"Job {number}", "JobNumber": number, "ClientID": client_id})


def test_new_account_has_nine_tasks_owner_and_settings(ct: ClickTimeClient) -> None:
    assert sorted(t["TaskCode"] for t in ct.list_all("Tasks")) == sorted(c for c, _ in assumptions.DEFAULT_TASKS)
    assert [u["SecurityLevel"] for u in ct.list_all("Users")] == ["ADMIN"]
    company = ct.company()
    assert company["TaskRestrictionMethod"] == "byjob" and company["BillableSetting"] == "Job"
    assert "BillabilityBy" not in company


def test_uniqueness_rules(ct: ClickTimeClient) -> None:
    acme = ct.create("Clients", {"Name": "Acme", "ShortName": "ACME", "ClientNumber": "1"})
    assert "ShortName must be unique" in refused(lambda: ct.create("Clients", {"Name": "X", "ShortName": "ACME"}))
    assert "ClientNumber must be unique" in refused(
        lambda: ct.create("Clients", {"Name": "X", "ShortName": "X", "ClientNumber": "1"}))
    ct.create("Clients", {"Name": "Y", "ShortName": "Y"})
    ct.create("Clients", {"Name": "Z", "ShortName": "Z"})  # empty ClientNumbers do not collide
    other = ct.create("Clients", {"Name": "Other", "ShortName": "OTHER"})
    ct.create("Jobs", {"Name": "J", "JobNumber": "001", "ClientID": acme["ID"]})
    ct.create("Jobs", {"Name": "J", "JobNumber": "001", "ClientID": other["ID"]})  # unique only within a client
    refused(lambda: ct.create("Jobs", {"Name": "J2", "JobNumber": "001", "ClientID": acme["ID"]}))
    ct.create("Tasks", {"Name": "Survey", "TaskCode": "SV"})
    assert "Task Name must be unique" in refused(lambda: ct.create("Tasks", {"Name": "survey", "TaskCode": "S2"}))
    ct.create("Users", {"Name": "A", "Email": "a@example.com"})
    assert "Email must be unique" in refused(lambda: ct.create("Users", {"Name": "A", "Email": "A@Example.com"}))


def test_duplicate_status_is_switchable(emu: Emulator) -> None:
    ok(emu, "POST", "/Clients", {"Name": "Acme", "ShortName": "ACME"})
    job = job_with_client(emu)
    task = ok(emu, "GET", "/Tasks")[0]["ID"]
    ok(emu, "POST", f"/Jobs/{job['ID']}/Tasks", {"TaskID": task})
    assert emu.duplicate_status == 400
    emu.duplicate_status = 409
    assert "ShortName must be unique" in message(call(emu, "POST", "/Clients", {"Name": "B", "ShortName": "ACME"}), 409)
    assert "already assigned" in message(call(emu, "POST", f"/Jobs/{job['ID']}/Tasks", {"TaskID": task}), 409)
    assert "Name is required" in message(call(emu, "POST", "/Clients", {"ShortName": "NEW"}), 400)  # not a duplicate


def test_required_fields_lengths_and_unknown_fields(ct: ClickTimeClient) -> None:
    assert "ShortName is required" in refused(lambda: ct.create("Clients", {"Name": "Acme"}))
    assert "at most 50 characters" in refused(lambda: ct.create("Clients", {"Name": "x" * 51, "ShortName": "X"}))
    assert "Unknown field Nmae" in refused(lambda: ct.create("Clients", {"Nmae": "x", "ShortName": "X"}))
    assert "ID is read-only" in refused(lambda: ct.create("Clients", {"ID": "x", "Name": "x", "ShortName": "X"}))
    assert "YYYY-MM-DD" in refused(
        lambda: ct.create("Users", {"Name": "A", "Email": "a@x.io", "StartDate": "2024-2-1"}))
    client = ct.create("Clients", {"Name": "Acme", "ShortName": "ACME"})
    assert "ProjectManagerID is required" in refused(lambda: ct.create(
        "Jobs", {"Name": "J", "JobNumber": "1", "ClientID": client["ID"], "TimeRequiresApproval": True}))
    assert "ClientID 'nope' does not exist" in refused(
        lambda: ct.create("Jobs", {"Name": "J", "JobNumber": "1", "ClientID": "nope"}))


def test_security_level_is_create_only_and_admin_is_never_created(ct: ClickTimeClient) -> None:
    user = ct.create("Users", {"Name": "M", "Email": "m@example.com", "SecurityLevel": "MANAGER"})
    assert user["SecurityLevel"] == "MANAGER"
    assert "only be set when the user is created" in refused(
        lambda: ct.update("Users", user["ID"], {"SecurityLevel": "ADMIN"}))
    text = refused(lambda: ct.create("Users", {"Name": "A", "Email": "a@example.com", "SecurityLevel": "ADMIN"}))
    assert "SecurityLevel ADMIN cannot be set through the API" in text and "Company > People" in text
    assert "must be one of STANDARD, MANAGER" in refused(
        lambda: ct.create("Users", {"Name": "A", "Email": "a@example.com", "SecurityLevel": "OWNER"}))
    assert [u["Email"] for u in ct.list_all("Users", [("Email", "a@example.com")])] == []


def test_deactivating_client_cascades_reactivating_does_not(ct: ClickTimeClient) -> None:
    client = ct.create("Clients", {"Name": "Acme", "ShortName": "ACME"})
    job = ct.create("Jobs", {"Name": "J", "JobNumber": "1", "ClientID": client["ID"]})
    ct.update("Clients", client["ID"], {"IsActive": False})
    assert ct.request("GET", f"/Jobs/{job['ID']}")["data"]["IsActive"] is False
    ct.update("Clients", client["ID"], {"IsActive": True})
    assert ct.request("GET", f"/Jobs/{job['ID']}")["data"]["IsActive"] is False


def test_lists_hide_inactive_unless_asked_and_page(ct: ClickTimeClient) -> None:
    for n in range(7):
        ct.create("Clients", {"Name": f"C{n}", "ShortName": f"C{n}", "IsActive": n % 2 == 0})
    default = ct.request("GET", "/Clients", [("limit", "100")])
    assert default["page"]["count"] == 4
    small = ClickTimeClient(ct.transport, page_size=2)
    assert len(small.list_all("Clients")) == 7
    assert small.calls == 4  # 4 active in 2 pages, 3 inactive in 2 pages
    clamped = ct.request("GET", "/Clients", [("limit", "999999")])
    assert clamped["page"]["limit"] == assumptions.MAX_PAGE_SIZE


def test_deletes_are_admin_only_and_refused_with_history(emu: Emulator, ct: ClickTimeClient) -> None:
    client = ct.create("Clients", {"Name": "Acme", "ShortName": "ACME"})
    job = ct.create("Jobs", {"Name": "J", "JobNumber": "1", "ClientID": client["ID"]})
    task = ct.list_all("Tasks")[0]
    owner = ct.list_all("Users")[0]
    ct.request("POST", "/TimeEntries", body={"JobID": job["ID"], "TaskID": task["ID"], "UserID": owner["ID"]})
    assert "has time entries" in refused(lambda: ct.delete("Jobs", job["ID"]))
    assert "has jobs" in refused(lambda: ct.delete("Clients", client["ID"]))
    ct.create("Users", {"Name": "S", "Email": "s@example.com"})
    as_standard = ClickTimeClient(SandboxTransport(Emulator(emu.store, caller_email="s@example.com")))
    assert "Only administrators" in refused(lambda: as_standard.delete("Jobs", job["ID"]), status=403)
    other = ct.create("Clients", {"Name": "Other", "ShortName": "OTHER"})
    deleted = call(emu, "DELETE", f"/Clients/{other['ID']}")
    assert (deleted.status, deleted.body) == (204, None)  # entity deletes keep an empty answer


def test_assignment_endpoints_follow_company_settings(emu: Emulator, ct: ClickTimeClient) -> None:
    client = ct.create("Clients", {"Name": "Acme", "ShortName": "ACME"})
    job = ct.create("Jobs", {"Name": "J", "JobNumber": "1", "ClientID": client["ID"]})
    tasks = [t["ID"] for t in ct.list_all("Tasks")][:3]
    for task_id in tasks:
        ct.assign(job["ID"], "Tasks", task_id)
    assert ct.assigned_ids(job["ID"], "Tasks") == tasks[::-1]  # newest first
    assert "already assigned" in refused(lambda: ct.assign(job["ID"], "Tasks", tasks[0]))
    answer = call(emu, "DELETE", f"/Jobs/{job['ID']}/Tasks/{tasks[0]}")
    assert (answer.status, answer.body) == (200, {"data": [tasks[2], tasks[1]]})  # what remains, newest first
    assert "is not assigned" in message(call(emu, "DELETE", f"/Jobs/{job['ID']}/Tasks/{tasks[0]}"), 404)
    ct.unassign(job["ID"], "Tasks", tasks[1])  # the client accepts the answer with a body
    assert ct.assigned_ids(job["ID"], "Tasks") == [tasks[2]]
    emu.set_company(TaskRestrictionMethod="mytasks")
    assert "TaskRestrictionMethod=byjob" in refused(lambda: ct.assigned_ids(job["ID"], "Tasks"), status=403)
    assert "TaskRestrictionMethod=byjob" in message(call(emu, "DELETE", f"/Jobs/{job['ID']}/Tasks/{tasks[2]}"), 403)


def test_user_unassign_answers_remaining_ids(emu: Emulator) -> None:
    job = job_with_client(emu)
    users = [ok(emu, "POST", "/Users", {"Name": f"U{n}", "Email": f"u{n}@example.com"})["ID"] for n in range(2)]
    for user_id in users:
        ok(emu, "POST", f"/Jobs/{job['ID']}/Users", {"UserID": user_id})
    answer = call(emu, "DELETE", f"/Jobs/{job['ID']}/Users/{users[1]}")
    assert (answer.status, answer.body) == (200, {"data": [users[0]]})
    answer = call(emu, "DELETE", f"/Jobs/{job['ID']}/Users/{users[0]}")
    assert (answer.status, answer.body) == (200, {"data": []})


def test_put_replaces_the_whole_set(emu: Emulator) -> None:
    job = job_with_client(emu)
    tasks = [t["ID"] for t in ok(emu, "GET", "/Tasks")]
    ok(emu, "POST", f"/Jobs/{job['ID']}/Tasks", {"TaskID": tasks[0]})
    ok(emu, "POST", f"/Jobs/{job['ID']}/Tasks", {"TaskID": tasks[1]})
    answer = call(emu, "PUT", f"/Jobs/{job['ID']}/Tasks", [tasks[1], tasks[2], tasks[3]])
    assert answer.status == 200
    assert answer.body["data"] == [tasks[3], tasks[2], tasks[1]]  # kept ones keep their age; new ones are newer
    assert ok(emu, "GET", f"/Jobs/{job['ID']}/Tasks") == [tasks[3], tasks[2], tasks[1]]
    assert ok(emu, "PUT", f"/Jobs/{job['ID']}/Tasks", []) == []
    assert ok(emu, "GET", f"/Jobs/{job['ID']}/Tasks") == []
    user = ok(emu, "POST", "/Users", {"Name": "U", "Email": "u@example.com"})["ID"]
    assert ok(emu, "PUT", f"/Jobs/{job['ID']}/Users", [user]) == [user]


def test_put_refuses_bad_bodies_and_closed_list_controls(emu: Emulator) -> None:
    job = job_with_client(emu)
    task = ok(emu, "GET", "/Tasks")[0]["ID"]
    path = f"/Jobs/{job['ID']}/Tasks"
    assert "JSON array" in message(call(emu, "PUT", path, {"TaskID": task}))
    assert "TaskID 'nope' does not exist" in message(call(emu, "PUT", path, [task, "nope"]))
    assert f"TaskID {task!r} is named twice" in message(call(emu, "PUT", path, [task, task]))
    assert ok(emu, "GET", path) == []  # a refused PUT changes nothing
    assert "not found" in message(call(emu, "PUT", "/Jobs/nope/Tasks", [task]), 404)
    emu.set_company(JobRestrictionMethod="none")
    assert "JobRestrictionMethod=byperson" in message(call(emu, "PUT", f"/Jobs/{job['ID']}/Users", []), 403)


def test_reverse_reads(emu: Emulator) -> None:
    jobs = [job_with_client(emu, str(n)) for n in range(3)]
    users = [ok(emu, "POST", "/Users", {"Name": f"U{n}", "Email": f"u{n}@example.com"})["ID"] for n in range(2)]
    tasks = [t["ID"] for t in ok(emu, "GET", "/Tasks")][:2]
    ok(emu, "POST", f"/Jobs/{jobs[0]['ID']}/Users", {"UserID": users[0]})
    ok(emu, "POST", f"/Jobs/{jobs[2]['ID']}/Users", {"UserID": users[0]})
    ok(emu, "POST", f"/Jobs/{jobs[2]['ID']}/Users", {"UserID": users[1]})
    ok(emu, "POST", f"/Jobs/{jobs[1]['ID']}/Tasks", {"TaskID": tasks[0]})
    ok(emu, "POST", f"/Jobs/{jobs[2]['ID']}/Tasks", {"TaskID": tasks[0]})
    assert {j["ID"] for j in ok(emu, "GET", "/Jobs", None, ("UserID", users[0]))} == {jobs[0]["ID"], jobs[2]["ID"]}
    assert {j["ID"] for j in ok(emu, "GET", "/Jobs", None, ("UserID", users[0]), ("UserID", users[1]))} == {
        jobs[0]["ID"], jobs[2]["ID"]}
    assert [u["ID"] for u in ok(emu, "GET", "/Users", None, ("JobID", jobs[2]["ID"]))] == users
    assert ok(emu, "GET", "/Users", None, ("JobID", jobs[1]["ID"])) == []
    assert ok(emu, "GET", f"/Tasks/{tasks[0]}/Jobs") == [jobs[2]["ID"], jobs[1]["ID"]]  # newest first
    assert ok(emu, "GET", f"/Tasks/{tasks[1]}/Jobs") == []
    ok(emu, "PATCH", f"/Jobs/{jobs[1]['ID']}", {"IsActive": False})
    assert ok(emu, "GET", f"/Tasks/{tasks[0]}/Jobs", None, ("IsActive", "true")) == [jobs[2]["ID"]]
    assert ok(emu, "GET", f"/Tasks/{tasks[0]}/Jobs", None, ("IsActive", "false")) == [jobs[1]["ID"]]
    assert "not found" in message(call(emu, "GET", "/Tasks/nope/Jobs"), 404)


def test_reverse_reads_follow_list_controls(emu: Emulator) -> None:
    job = job_with_client(emu)
    task = ok(emu, "GET", "/Tasks")[0]["ID"]
    emu.set_company(JobRestrictionMethod="myjobs", TaskRestrictionMethod="mytasks")
    assert "JobRestrictionMethod=byperson" in message(call(emu, "GET", "/Jobs", None, ("UserID", "x")), 403)
    assert "JobRestrictionMethod=byperson" in message(call(emu, "GET", "/Users", None, ("JobID", job["ID"])), 403)
    assert "TaskRestrictionMethod=byjob" in message(call(emu, "GET", f"/Tasks/{task}/Jobs"), 403)
    assert len(ok(emu, "GET", "/Jobs")) == 1  # plain lists stay open


def test_assignment_reads_filter_on_is_active(emu: Emulator) -> None:
    job = job_with_client(emu)
    users = [ok(emu, "POST", "/Users", {"Name": f"U{n}", "Email": f"u{n}@example.com"})["ID"] for n in range(2)]
    for user_id in users:
        ok(emu, "POST", f"/Jobs/{job['ID']}/Users", {"UserID": user_id})
    ok(emu, "PATCH", f"/Users/{users[0]}", {"IsActive": False})
    path = f"/Jobs/{job['ID']}/Users"
    assert ok(emu, "GET", path) == [users[1], users[0]]  # without IsActive: every assigned ID
    assert ok(emu, "GET", path, None, ("IsActive", "true")) == [users[1]]
    assert ok(emu, "GET", path, None, ("IsActive", "false")) == [users[0]]
    assert "Unknown query parameter(s): limit" in message(call(emu, "GET", path, None, ("limit", "5")))


def test_quirk_reverse_reads_disagree(emu: Emulator) -> None:
    jobs = [job_with_client(emu, str(n)) for n in range(2)]
    user = ok(emu, "POST", "/Users", {"Name": "U", "Email": "u@example.com"})["ID"]
    task = ok(emu, "GET", "/Tasks")[0]["ID"]
    for job in jobs:
        ok(emu, "POST", f"/Jobs/{job['ID']}/Users", {"UserID": user})
        ok(emu, "POST", f"/Jobs/{job['ID']}/Tasks", {"TaskID": task})
    assert emu.quirks.reverse_reads_disagree is False
    emu.quirks.reverse_reads_disagree = True
    assert ok(emu, "GET", f"/Tasks/{task}/Jobs") == [jobs[0]["ID"]]  # the newest assignment is missing
    owner = ok(emu, "GET", "/Users", None, ("SecurityLevel", "ADMIN"))[0]["ID"]
    ok(emu, "POST", f"/Jobs/{jobs[0]['ID']}/Users", {"UserID": owner})  # now the newest assignment
    assert [u["ID"] for u in ok(emu, "GET", "/Users", None, ("JobID", jobs[0]["ID"]))] == [user]
    assert [j["ID"] for j in ok(emu, "GET", "/Jobs", None, ("UserID", owner))] == []
    assert {j["ID"] for j in ok(emu, "GET", "/Jobs", None, ("UserID", user))} == {jobs[0]["ID"], jobs[1]["ID"]}
    assert ok(emu, "GET", f"/Jobs/{jobs[0]['ID']}/Users") == [owner, user]  # the forward read stays right
    emu.quirks.reverse_reads_disagree = False
    assert ok(emu, "GET", f"/Tasks/{task}/Jobs") == [jobs[1]["ID"], jobs[0]["ID"]]
    assert [u["ID"] for u in ok(emu, "GET", "/Users", None, ("JobID", jobs[0]["ID"]))] == [owner, user]


def test_quirk_put_merges(emu: Emulator) -> None:
    job = job_with_client(emu)
    tasks = [t["ID"] for t in ok(emu, "GET", "/Tasks")][:3]
    ok(emu, "PUT", f"/Jobs/{job['ID']}/Tasks", tasks[:2])
    emu.quirks.put_merges = True
    assert ok(emu, "PUT", f"/Jobs/{job['ID']}/Tasks", [tasks[2]]) == [tasks[2], tasks[1], tasks[0]]
    emu.quirks.put_merges = False
    assert ok(emu, "PUT", f"/Jobs/{job['ID']}/Tasks", [tasks[2]]) == [tasks[2]]


def test_unmanaged_spec_fields_are_stored_returned_and_defaulted(emu: Emulator) -> None:
    client = ok(emu, "POST", "/Clients", {"Name": "Acme", "ShortName": "ACME", "IsEligibleTimeOffAllocation": True})
    assert client["IsEligibleTimeOffAllocation"] is True
    job = ok(emu, "POST", "/Jobs", {"Name": "J", "JobNumber": "1", "ClientID": client["ID"], "BillingRate": 150,
                                    "UseCompanyBillingRate": False, "IsEligibleTimeOffAllocation": False})
    fetched = ok(emu, "GET", f"/Jobs/{job['ID']}")
    assert (fetched["BillingRate"], fetched["UseCompanyBillingRate"]) == (150, False)
    assert "must be a number" in message(call(emu, "PATCH", f"/Jobs/{job['ID']}", {"BillingRate": "150"}))
    other = ok(emu, "POST", "/Jobs", {"Name": "K", "JobNumber": "2", "ClientID": client["ID"]})
    defaults = (other["BillingRate"], other["UseCompanyBillingRate"], other["IsEligibleTimeOffAllocation"])
    assert defaults == (0.0, True, False)
    user = ok(emu, "POST", "/Users", {"Name": "U", "Email": "u@example.com", "CostRate": 55.5, "CostModel": "Hourly",
                                      "MinimumTimePeriod": "Day", "PreferredTimeFormat": "24Hour",
                                      "GDPRConsentStatus": "Consented", "RequireComments": True})
    fetched = ok(emu, "GET", f"/Users/{user['ID']}")
    assert (fetched["CostRate"], fetched["MinimumTimePeriod"], fetched["RequireComments"]) == (55.5, "Day", True)
    assert fetched["PreferredTimeEntryView"] == "WeekView" and fetched["SubjectToTimesheetApproval"] is False
    assert "must be one of Day, Week" in message(
        call(emu, "PATCH", f"/Users/{user['ID']}", {"MinimumTimePeriod": "Month"}))
    task = ok(emu, "GET", "/Tasks")[0]["ID"]
    assert ok(emu, "PATCH", f"/Users/{user['ID']}", {"DefaultTaskID": task})["DefaultTaskID"] == task


def test_user_dependent_fields(emu: Emulator) -> None:
    approver = ok(emu, "GET", "/Users")[0]["ID"]
    user = ok(emu, "POST", "/Users", {"Name": "U", "Email": "u@example.com"})["ID"]
    assert "TimesheetApproverID needs SubjectToTimesheetApproval=true" in message(
        call(emu, "PATCH", f"/Users/{user}", {"TimesheetApproverID": approver}))
    patched = ok(emu, "PATCH", f"/Users/{user}", {"SubjectToTimesheetApproval": True, "TimesheetApproverID": approver})
    assert patched["TimesheetApproverID"] == approver
    assert "CostPerTimesheet needs CostModel=Salary" in message(
        call(emu, "PATCH", f"/Users/{user}", {"CostPerTimesheet": 900}))
    salaried = ok(emu, "PATCH", f"/Users/{user}", {"CostModel": "Salary", "CostPerTimesheet": 900})
    assert salaried["CostPerTimesheet"] == 900


def test_templates_reflect_the_company(emu: Emulator) -> None:
    jobs, tasks = ok(emu, "GET", "/Jobs/new"), ok(emu, "GET", "/Tasks/new")
    assert jobs["IsBillable"] is True and jobs["TimeRequiresApproval"] is False and jobs["BillingRate"] == 0.0
    assert "SecondaryBillingRateMode" not in jobs and "IncludeInRM" not in jobs and "CustomFields" not in jobs
    assert "IsBillable" not in tasks and "BillingRate" not in tasks
    assert ok(emu, "GET", "/Clients/new")["CustomFields"] == {}  # bills-by-job defines a client field
    emu.set_company(BillableSetting="Task", EnableProjectApprovals=False, BillingRateModel="TASK_JOB")
    jobs, tasks = ok(emu, "GET", "/Jobs/new"), ok(emu, "GET", "/Tasks/new")
    assert "IsBillable" not in jobs and "TimeRequiresApproval" not in jobs and "BillingRate" not in jobs
    assert jobs["SecondaryBillingRateMode"] == "INHERIT"
    assert tasks["IsBillable"] is True and tasks["BillingRate"] == 0.0 and tasks["UseCompanyBillingRate"] is True


def test_gated_fields_are_left_out_of_reads_and_kept(emu: Emulator) -> None:
    job = job_with_client(emu)
    ok(emu, "PATCH", f"/Jobs/{job['ID']}", {"IsBillable": False})
    emu.set_company(BillableSetting="Task")
    assert "IsBillable" not in ok(emu, "GET", f"/Jobs/{job['ID']}")
    assert all("IsBillable" not in j for j in ok(emu, "GET", "/Jobs"))
    assert all("IsBillable" in t for t in ok(emu, "GET", "/Tasks"))
    assert "BillableSetting=Job (it is Task)" in message(call(emu, "PATCH", f"/Jobs/{job['ID']}", {"IsBillable": True}))
    emu.set_company(BillableSetting="Job")
    assert ok(emu, "GET", f"/Jobs/{job['ID']}")["IsBillable"] is False


def test_time_report_billability_follows_the_company(emu: Emulator) -> None:
    job = job_with_client(emu)
    ok(emu, "PATCH", f"/Jobs/{job['ID']}", {"IsBillable": False})
    task = ok(emu, "GET", "/Tasks")[0]["ID"]
    owner = ok(emu, "GET", "/Users")[0]["ID"]
    ok(emu, "POST", "/TimeEntries", {"JobID": job["ID"], "TaskID": task, "UserID": owner, "Date": "2025-01-02"})
    assert ok(emu, "GET", "/Reports/Time")[0]["IsBillable"] is False  # by job
    emu.set_company(BillableSetting="Task")
    assert ok(emu, "GET", "/Reports/Time")[0]["IsBillable"] is True  # by the task, billable by default


def test_reset_to_a_profile_and_back(emu: Emulator) -> None:
    ok(emu, "POST", "/Clients", {"Name": "Acme", "ShortName": "ACME"})
    emu.reset(load_profile("new-account"))
    assert ok(emu, "GET", "/Clients") == []
    assert ok(emu, "GET", "/Company")["JobRestrictionMethod"] == "none"
    assert emu.profile.name == "new-account"
    emu.reset()
    assert emu.profile.name == "bills-by-job"
    assert ok(emu, "GET", "/Company")["JobRestrictionMethod"] == "byperson"
    assert len(ok(emu, "GET", "/Tasks")) == 9


class TruncatingTransport(SandboxTransport):
    """Drops the last record of every page while leaving page.count alone."""

    def send(self, request: Request) -> Response:
        response = super().send(request)
        if request.method == "GET" and isinstance(response.body, dict) and isinstance(response.body.get("data"), list):
            body = dict(response.body)
            body["data"] = body["data"][:-1]
            return Response(response.status, body, response.headers)
        return response


def test_truncated_list_is_an_error(emu: Emulator) -> None:
    with pytest.raises(IncompleteFetchError, match=r"page\.count says 9 records, 8 arrived"):
        ClickTimeClient(TruncatingTransport(emu)).list_all("Tasks")


def test_error_body_with_2xx_status_is_a_failure() -> None:
    class Odd:
        def send(self, request: Request) -> Response:
            return Response(200, {"data": None, "errors": [{"Detail": "odd failure"}]})

        def close(self) -> None:
            pass

    with pytest.raises(ApiError, match="odd failure"):
        ClickTimeClient(Odd()).company()
