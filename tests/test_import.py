"""Adopting an existing account: a messy, realistic sandbox imports to a tree that plans clean."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import run

from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.http import HttpTransport
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.profiles import from_dict
from reconciler.sandbox.server import EmulatorServer, Knobs


def messy_account(emulator: Emulator, api: ClickTimeClient) -> None:
    """Inactive objects, a job without a client, odd characters, keys that look like other types."""
    emulator.reset(from_dict({
        "name": "messy", "description": "a Corporate account with job custom fields",
        "company": {"BillableSetting": "Task", "JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob",
                    "EnableProjectApprovals": True},
        "optional_modules": ["Corporate"],
        "custom_fields": {"Jobs": [{"name": "Region", "display_name": "Region", "data_type": "Text"},
                                   {"name": "Budget", "display_name": "Budget", "data_type": "Number"}]}}))
    division = api.create("Divisions", {"Name": "Engineering"})
    api.create("Divisions", {"Name": "Old Division", "IsActive": False})
    full_time = api.create("EmploymentTypes", {"Name": "Full-time"})
    clients = {}
    for short, name in (("ACME", 'Acme "Quotes" & Co: #1'), ("A/B", "Slash/Client"), ("yes", "Yes Inc"),
                        ("007", "Bond Ltd"), ("ÜBER", "Über GmbH – ünïcode")):
        clients[short] = api.create("Clients", {"Name": name, "ShortName": short})
    api.create("Clients", {"Name": "Gone Corp", "ShortName": "GONE", "ClientNumber": "C-9", "Notes": "old"})
    jane = api.create("Users", {"Name": "Jane O'Hara", "Email": "Jane.OHara+ct@Example.com",
                                "SecurityLevel": "MANAGER", "DivisionID": division["ID"],
                                "EmploymentTypeID": full_time["ID"], "StartDate": "2020-02-29"})
    api.create("Users", {"Name": "  Leading Spaces", "Email": "left@example.com", "IsActive": False,
                         "EndDate": "2023-12-31", "EmployeeNumber": "0042"})
    task = api.create("Tasks", {"Name": "Design: UX/UI", "TaskCode": "1e3", "IsBillable": False})
    api.create("Tasks", {"Name": "Retired task", "TaskCode": "OLD", "IsActive": False})
    job = api.create("Jobs", {"Name": "Website: phase #2", "JobNumber": "001", "ClientID": clients["ACME"]["ID"],
                              "ProjectManagerID": jane["ID"], "TimeRequiresApproval": True,
                              "CustomFields": {"Region": "EMEA", "Budget": 1200}})
    api.assign(job["ID"], "Tasks", task["ID"])
    api.assign(job["ID"], "Users", jane["ID"])
    api.create("Jobs", {"Name": "Same number, other client", "JobNumber": "001", "ClientID": clients["A/B"]["ID"]})
    api.create("Jobs", {"Name": "Finished", "JobNumber": "OLD-1", "ClientID": clients["yes"]["ID"],
                        "IsActive": False, "EndDate": "2022-01-31", "StartDate": "2021-01-01"})
    gone = next(c for c in api.list_all("Clients") if c["ShortName"] == "GONE")
    api.create("Jobs", {"Name": "Under a gone client", "JobNumber": "G1", "ClientID": gone["ID"]})
    api.update("Clients", gone["ID"], {"IsActive": False})  # cascades to its job
    with emulator.lock, emulator.store.transaction():  # legacy data: a job with no client at all
        emulator._save("Jobs", {"ID": emulator.store.new_id(), **emulator_defaults(), "Name": "Orphan",
                                "JobNumber": "X-1", "ClientID": None})


def emulator_defaults() -> dict:
    from reconciler.sandbox.emulator import RULES
    return dict(RULES["Jobs"].defaults)


def test_messy_account_imports_to_a_tree_that_plans_clean(tmp_path: Path, emulator: Emulator,
                                                           api: ClickTimeClient) -> None:
    messy_account(emulator, api)
    out = tmp_path / "adopted"
    result = run("import", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "1 jobs without a client were not imported" in result.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert files == ["clients/007.yaml", "clients/ACME.yaml", "clients/A_B.yaml", "clients/GONE.yaml",
                     "clients/yes.yaml", "clients/ÜBER.yaml", "divisions.yaml", "employment_types.yaml",
                     "reconciler.yaml", "tasks.yaml", "users.yaml"]
    assert run("validate", out).exit_code == 0
    planned = run("plan", out, "--detailed-exitcode")
    assert planned.exit_code == 0, planned.stdout + planned.stderr
    acme = yaml.safe_load((out / "clients" / "ACME.yaml").read_text())
    assert acme["clients"]["ACME"] == {"name": 'Acme "Quotes" & Co: #1'}
    assert acme["jobs"]["ACME"]["001"]["custom_fields"] == {"Region": "EMEA", "Budget": 1200}
    users = yaml.safe_load((out / "users.yaml").read_text())["users"]
    assert users["Jane.OHara+ct@Example.com"]["division"] == "Engineering"
    assert users["left@example.com"] == {"name": "  Leading Spaces", "active": False, "employee_number": "0042",
                                         "end_date": "2023-12-31"}
    tasks = yaml.safe_load((out / "tasks.yaml").read_text())["tasks"]
    assert len(tasks) == 11 and tasks["OLD"]["active"] is False and "1e3" in tasks
    assert yaml.safe_load((out / "clients" / "GONE.yaml").read_text())["jobs"]["GONE"]["G1"]["active"] is False


def test_active_only_and_partial_import(tmp_path: Path, emulator: Emulator, api: ClickTimeClient) -> None:
    messy_account(emulator, api)
    active = tmp_path / "active"
    assert run("import", "--out", active, "--active-only").exit_code == 0
    assert not (active / "clients" / "GONE.yaml").exists()
    assert "OLD:" not in (active / "tasks.yaml").read_text()
    assert run("plan", active, "--detailed-exitcode").exit_code == 0

    part = tmp_path / "part"
    result = run("import", "--out", part, "--kinds", "clients,jobs", "--match", "ACME*")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.relative_to(part).as_posix() for p in part.rglob("*.yaml")) == [
        "clients/ACME.yaml", "reconciler.yaml", "references.yaml"]
    references = yaml.safe_load((part / "references.yaml").read_text())
    assert references == {"tasks": {"1e3": {}}, "users": {"Jane.OHara+ct@Example.com": {}}}
    assert "users: ignore" in (part / "reconciler.yaml").read_text()
    assert run("validate", part).exit_code == 0
    assert run("plan", part, "--detailed-exitcode").exit_code == 0


def test_unknown_kind_is_an_error(tmp_path: Path, sandbox_path: Path) -> None:
    result = run("import", "--out", tmp_path / "x", "--kinds", "jobs,projects")
    assert result.exit_code == 1
    assert "--kinds: unknown kind(s) projects" in result.stderr


def test_import_names_its_backend_and_reads_the_settings_already_there(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan of an import reads the account the import read, with no --backend to repeat."""
    server = EmulatorServer(Emulator.open(str(tmp_path / "live.sqlite3")), knobs=Knobs(token="t0ken")).start()
    try:
        api = ClickTimeClient(HttpTransport(server.url, "t0ken"))
        api.create("Clients", {"Name": "Only over HTTP", "ShortName": "HTTP"})
        api.close()
        monkeypatch.delenv("RECONCILER_BACKEND", raising=False)
        monkeypatch.setenv("RECONCILER_SANDBOX", str(tmp_path / "sandbox.sqlite3"))  # empty: not the account
        monkeypatch.setenv("CLICKTIME_API_URL", server.url)
        monkeypatch.setenv("CLICKTIME_TOKEN", "t0ken")
        out = tmp_path / "imported"
        assert run("import", "--backend", "clicktime", "--out", out).exit_code == 0
        assert "backend: clicktime" in (out / "reconciler.yaml").read_text()
        assert any("Only over HTTP" in path.read_text() for path in out.rglob("*.yaml"))
        assert run("plan", out, "--detailed-exitcode").exit_code == 0  # the same account, not the sandbox
        # a re-import into it takes its settings: no --backend this time
        assert run("import", "--out", out, "--force").exit_code == 0
        assert "backend: clicktime" in (out / "reconciler.yaml").read_text()
    finally:
        server.stop()
        server.emulator.close()
