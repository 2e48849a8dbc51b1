"""The emulator enforces ClickTime's documented rules and our stricter assumptions."""

from __future__ import annotations

import pytest

from reconciler.clicktime import assumptions
from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.transport import Request, Response
from reconciler.errors import ApiError, IncompleteFetchError
from reconciler.sandbox.emulator import Emulator
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


def test_new_account_has_nine_tasks_owner_and_settings(ct: ClickTimeClient) -> None:
    assert sorted(t["TaskCode"] for t in ct.list("Tasks")) == sorted(c for c, _ in assumptions.DEFAULT_TASKS)
    assert [u["SecurityLevel"] for u in ct.list("Users")] == ["ADMIN"]
    assert ct.company()["TaskRestrictionMethod"] == "byjob"


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
    assert "Task Name must be unique" in refused(lambda: ct.create("Tasks", {"Name": "research", "TaskCode": "R2"}))
    ct.create("Users", {"Name": "A", "Email": "a@example.com"})
    assert "Email must be unique" in refused(lambda: ct.create("Users", {"Name": "A", "Email": "A@Example.com"}))


def test_required_fields_lengths_and_unknown_fields(ct: ClickTimeClient) -> None:
    assert "ShortName is required" in refused(lambda: ct.create("Clients", {"Name": "Acme"}))
    assert "at most 50 characters" in refused(lambda: ct.create("Clients", {"Name": "x" * 51, "ShortName": "X"}))
    assert "Unknown field Nmae" in refused(lambda: ct.create("Clients", {"Nmae": "x", "ShortName": "X"}))
    assert "ID is read-only" in refused(lambda: ct.create("Clients", {"ID": "x", "Name": "x", "ShortName": "X"}))
    assert "YYYY-MM-DD" in refused(lambda: ct.create("Users", {"Name": "A", "Email": "a@x.io", "StartDate": "2024-2-1"}))
    client = ct.create("Clients", {"Name": "Acme", "ShortName": "ACME"})
    assert "ProjectManagerID is required" in refused(lambda: ct.create(
        "Jobs", {"Name": "J", "JobNumber": "1", "ClientID": client["ID"], "TimeRequiresApproval": True}))
    assert "ClientID 'nope' does not exist" in refused(
        lambda: ct.create("Jobs", {"Name": "J", "JobNumber": "1", "ClientID": "nope"}))


def test_security_level_is_create_only(ct: ClickTimeClient) -> None:
    user = ct.create("Users", {"Name": "M", "Email": "m@example.com", "SecurityLevel": "MANAGER"})
    assert user["SecurityLevel"] == "MANAGER"
    assert "only be set when the user is created" in refused(
        lambda: ct.update("Users", user["ID"], {"SecurityLevel": "ADMIN"}))


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
    assert len(small.list("Clients")) == 7
    assert small.calls == 4  # ceil(7 / 2)
    clamped = ct.request("GET", "/Clients", [("limit", "999999")])
    assert clamped["page"]["limit"] == assumptions.MAX_PAGE_SIZE


def test_deletes_are_admin_only_and_refused_with_history(emu: Emulator, ct: ClickTimeClient) -> None:
    client = ct.create("Clients", {"Name": "Acme", "ShortName": "ACME"})
    job = ct.create("Jobs", {"Name": "J", "JobNumber": "1", "ClientID": client["ID"]})
    task = ct.list("Tasks")[0]
    owner = ct.list("Users")[0]
    ct.request("POST", "/TimeEntries", body={"JobID": job["ID"], "TaskID": task["ID"], "UserID": owner["ID"]})
    assert "has time entries" in refused(lambda: ct.delete("Jobs", job["ID"]))
    assert "has jobs" in refused(lambda: ct.delete("Clients", client["ID"]))
    ct.create("Users", {"Name": "S", "Email": "s@example.com"})
    as_standard = ClickTimeClient(SandboxTransport(Emulator(emu.store, caller_email="s@example.com")))
    assert "Only administrators" in refused(lambda: as_standard.delete("Jobs", job["ID"]), status=403)


def test_assignment_endpoints_follow_company_settings(emu: Emulator, ct: ClickTimeClient) -> None:
    client = ct.create("Clients", {"Name": "Acme", "ShortName": "ACME"})
    job = ct.create("Jobs", {"Name": "J", "JobNumber": "1", "ClientID": client["ID"]})
    tasks = [t["ID"] for t in ct.list("Tasks")][:2]
    for task_id in tasks:
        ct.assign(job["ID"], "Tasks", task_id)
    assert ct.assigned_ids(job["ID"], "Tasks") == tasks[::-1]  # newest first
    assert "already assigned" in refused(lambda: ct.assign(job["ID"], "Tasks", tasks[0]))
    ct.unassign(job["ID"], "Tasks", tasks[0])
    assert ct.assigned_ids(job["ID"], "Tasks") == [tasks[1]]
    emu.set_company(TaskRestrictionMethod="mytasks")
    assert "TaskRestrictionMethod=byjob" in refused(lambda: ct.assigned_ids(job["ID"], "Tasks"), status=403)


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
    with pytest.raises(IncompleteFetchError, match="page.count says 9 records, 8 arrived"):
        ClickTimeClient(TruncatingTransport(emu)).list("Tasks")


def test_error_body_with_2xx_status_is_a_failure() -> None:
    class Odd:
        def send(self, request: Request) -> Response:
            return Response(200, {"data": None, "errors": [{"Detail": "odd failure"}]})

        def close(self) -> None:
            pass

    with pytest.raises(ApiError, match="odd failure"):
        ClickTimeClient(Odd()).company()
