"""ClickTime rules the plan must respect and show, each exercised against the real emulator."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import BASIC, run, write_config

from reconciler.apply import Applier
from reconciler.engine import assignments_needed
from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.transport import Request, Response
from reconciler.config.loader import load_configuration
from reconciler.diff import build_plan
from reconciler.live import fetch_live
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.transport import SandboxTransport


class RecordingTransport(SandboxTransport):
    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator)
        self.sent: list[Request] = []

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        return super().send(request)

    def close(self) -> None:
        pass


def plan_json(directory: Path) -> dict:
    result = run("plan", directory, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new))


def test_update_sends_only_changed_fields(basic_config: Path, emulator: Emulator) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    edit(basic_config, "clients.yaml", "name: Acme Corporation", "name: Acme Corp")
    config = load_configuration(basic_config)
    transport = RecordingTransport(emulator)
    client = ClickTimeClient(transport)
    live = fetch_live(client, assignments_needed(config))
    plan = build_plan(config, live, "sandbox")
    assert [(c.action, c.kind.value, c.key) for c in plan.changes] == [("update", "client", ("ACME",))]
    transport.sent.clear()
    Applier(client, live).apply(plan)
    [patch] = transport.sent
    assert patch.method == "PATCH" and patch.path.startswith("/Clients/")
    assert patch.body == {"Name": "Acme Corp"}


def test_rename_is_an_update_not_a_recreate(basic_config: Path, sandbox_path: Path) -> None:
    run("apply", basic_config, "--yes")
    edit(basic_config, "jobs.yaml", "name: Website Redesign", "name: Website Relaunch")
    changes = plan_json(basic_config)["changes"]
    assert changes == [{"action": "update", "kind": "job", "key": "ACME/WEB-001", "key_parts": ["ACME", "WEB-001"],
                        "fields": {"name": {"old": "Website Redesign", "new": "Website Relaunch"}}}]


def test_assignments_are_set_diffs(basic_config: Path, sandbox_path: Path) -> None:
    run("apply", basic_config, "--yes")
    edit(basic_config, "jobs.yaml", "tasks: [DEV, DESIGN]", "tasks: [DESIGN]")
    edit(basic_config, "jobs.yaml", "users: [jane@example.com]", "users: [jane@example.com, BOB@example.com]")
    changes = plan_json(basic_config)["changes"]
    assert [(c["action"], c["list"], c["target"]) for c in changes] == [
        ("unassign", "tasks", "DEV"), ("assign", "users", "bob@example.com")]
    assert run("apply", basic_config, "--yes").exit_code == 0
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0


def test_order_parents_first_teardown_children_first(tmp_path: Path, sandbox_path: Path) -> None:
    config = write_config(tmp_path / "c", BASIC)
    run("apply", config, "--yes")
    write_config(config, {
        "reconciler.yaml": "prune: {jobs: deactivate, clients: deactivate}\n",
        "clients.yaml": "clients:\n  ACME: {name: Acme Corporation}\n  NEWCO: {name: New Co}\n",
        "jobs.yaml": "jobs:\n  ACME:\n    WEB-001: {name: Website Redesign}\n  NEWCO:\n    N-1: {name: First, tasks: [DEV]}\n",
    })
    changes = plan_json(config)["changes"]
    sequence = [(c["action"], c["kind"], c["key"]) for c in changes]
    assert sequence == [
        ("create", "client", "NEWCO"),
        ("create", "job", "NEWCO/N-1"),
        ("assign", "job", "NEWCO/N-1"),
        ("deactivate", "job", "ACME/WEB-002"),
        ("deactivate", "job", "GLOBEX/G-1"),
        ("deactivate", "client", "GLOBEX"),
    ]
    assert run("apply", config, "--yes").exit_code == 0
    assert run("plan", config, "--detailed-exitcode").exit_code == 0


def test_security_level_change_is_reported_not_attempted(basic_config: Path, sandbox_path: Path) -> None:
    run("apply", basic_config, "--yes")
    edit(basic_config, "users.yaml", "security_level: manager", "security_level: admin")
    plan = plan_json(basic_config)
    assert plan["changes"] == []
    assert any("security_level is 'manager'" in w and "only sets it when the user is created" in w
               for w in plan["warnings"])
    text = run("plan", basic_config).stdout
    assert "Warnings:" in text and "security_level" in text


def test_client_deactivation_cascades_and_is_shown(basic_config: Path, api: ClickTimeClient) -> None:
    run("apply", basic_config, "--yes")
    edit(basic_config, "clients.yaml", "client_number: C-1001", "client_number: C-1001\n    active: false")
    plan = plan_json(basic_config)
    [change] = plan["changes"]
    assert change["action"] == "deactivate" and change["key"] == "ACME"
    assert change["notes"] == ["also deactivates its 2 active job(s): ACME/WEB-001, ACME/WEB-002",
                               "impact: 0 h logged in the last 90 days by 0 people; 2 active job(s)"]
    assert run("apply", basic_config, "--yes").exit_code == 0
    jobs = {j["JobNumber"]: j["IsActive"] for j in api.list_all("Jobs")}
    assert jobs == {"WEB-001": False, "WEB-002": False, "G-1": True}
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0


def test_reactivating_a_client_leaves_its_jobs_inactive(basic_config: Path, api: ClickTimeClient) -> None:
    run("apply", basic_config, "--yes")
    edit(basic_config, "clients.yaml", "client_number: C-1001", "client_number: C-1001\n    active: false")
    run("apply", basic_config, "--yes")
    edit(basic_config, "clients.yaml", "active: false", "active: true")
    edit(basic_config, "jobs.yaml", "WEB-002: {name: Shop}", "WEB-002: {name: Shop, active: true}")
    plan = plan_json(basic_config)
    assert [(c["action"], c["key"]) for c in plan["changes"]] == [("reactivate", "ACME"), ("reactivate", "ACME/WEB-002")]
    assert plan["changes"][0]["notes"] == [
        "its 1 inactive job(s) stay inactive (ClickTime does not reactivate them): ACME/WEB-001"]
    run("apply", basic_config, "--yes")
    jobs = {j["JobNumber"]: j["IsActive"] for j in api.list_all("Jobs")}
    assert jobs == {"WEB-001": False, "WEB-002": True, "G-1": True}


def test_job_declared_active_under_client_pruned_away_is_an_error(tmp_path: Path, sandbox_path: Path) -> None:
    config = write_config(tmp_path / "c", BASIC)
    run("apply", config, "--yes")
    (config / "clients.yaml").write_text("clients:\n  ACME: {name: Acme Corporation}\n")
    write_config(config, {"reconciler.yaml": "prune: {clients: deactivate}\n",
                          "jobs.yaml": "jobs:\n  GLOBEX:\n    G-1: {name: Audit, active: true}\n"})
    result = run("plan", config)
    assert result.exit_code == 1
    assert "jobs.yaml:3:32: job 'GLOBEX/G-1' is declared active, but its client is deactivated by this plan" in result.stderr


def test_seeded_tasks_are_pruned_like_any_other_with_a_note(tmp_path: Path, sandbox_path: Path) -> None:
    """ClickTime's nine seeded tasks have undocumented names: no rule may single them out. The
    plan says what they may be; importing them first (or protect) keeps them."""
    config = write_config(tmp_path / "c", {"reconciler.yaml": "prune: {tasks: deactivate}\n",
                                           "tasks.yaml": "tasks:\n  DEV: {name: Development}\n"})
    plan = plan_json(config)
    pruned = [c for c in plan["changes"] if c["action"] == "deactivate"]
    assert len(pruned) == 9 and all("ClickTime creates nine tasks" in c["notes"][-1] for c in pruned)
    seeded = tmp_path / "seeded"
    assert run("import", "--out", seeded, "--kinds", "tasks").exit_code == 0
    (config / "seeded-tasks.yaml").write_text((seeded / "tasks.yaml").read_text())
    (config / "tasks.yaml").write_text("tasks:\n  DEV: {name: Development}\n")
    assert [c["action"] for c in plan_json(config)["changes"]] == ["create"]


def test_account_owner_is_never_pruned(tmp_path: Path, sandbox_path: Path) -> None:
    config = write_config(tmp_path / "c", {"reconciler.yaml": "prune: {users: deactivate}\n",
                                           "users.yaml": "users:\n  a@example.com: {name: A}\n"})
    assert plan_json(config)["changes"] == [
        {"action": "create", "kind": "user", "key": "a@example.com", "key_parts": ["a@example.com"], "fields": {"name": {"old": None, "new": "A"}}}]


def test_tombstone_deletes_and_history_refusal_names_object(basic_config: Path, api: ClickTimeClient,
                                                           emulator: Emulator) -> None:
    run("apply", basic_config, "--yes")
    jobs = {j["JobNumber"]: j["ID"] for j in api.list_all("Jobs")}
    tasks = {t["TaskCode"]: t["ID"] for t in api.list_all("Tasks")}
    users = {u["Email"]: u["ID"] for u in api.list_all("Users")}
    api.request("POST", "/TimeEntries", body={"JobID": jobs["WEB-001"], "TaskID": tasks["DEV"],
                                              "UserID": users["jane@example.com"], "Hours": 2})
    edit(basic_config, "jobs.yaml", "WEB-002: {name: Shop}", "WEB-002: {absent: true}")
    edit(basic_config, "tasks.yaml", "DESIGN: {name: Design}", "DESIGN: {name: Design}\n  DEV2: {absent: true}")
    plan = plan_json(basic_config)
    assert [(c["action"], c["key"]) for c in plan["changes"]] == [("delete", "ACME/WEB-002")]
    assert run("apply", basic_config, "--yes", "--allow-delete").exit_code == 0
    assert "WEB-002" not in {j["JobNumber"] for j in api.list_all("Jobs")}

    edit(basic_config, "tasks.yaml", "DESIGN: {name: Design}", "DESIGN: {name: Design}\n  BUILD: {name: Build}")
    edit(basic_config, "jobs.yaml", """    WEB-001:
      name: Website Redesign
      billable: true
      start_date: 2024-01-01
      project_manager: jane@example.com
      tasks: [DEV, DESIGN]
      users: [jane@example.com]""", "    WEB-001: {absent: true}")
    result = run("apply", basic_config, "--yes", "--allow-delete")
    assert result.exit_code == 1
    assert "applied: + create task BUILD" in result.stdout
    assert ("failed: x delete job ACME/WEB-001 (Job 'WEB-001' has time entries and cannot be deleted; "
            "inactivate it instead (it has history: deactivate it instead with active: false)") in result.stderr
    assert "Apply finished with failures: 1 applied, 1 failed, 0 skipped." in result.stderr


def test_undeclared_reference_ok_at_plan_when_live(basic_config: Path, tmp_path: Path, sandbox_path: Path) -> None:
    partial = write_config(tmp_path / "partial", {
        "jobs.yaml": "jobs:\n  ACME:\n    WEB-003: {name: New, tasks: [ADMIN, DEV], project_manager: jane@example.com}\n"})
    offline = run("validate", partial)
    assert offline.exit_code == 1
    assert "partial/jobs.yaml:3:5: job 'ACME/WEB-003' refers to client 'ACME', which is declared nowhere" in offline.stderr
    missing = run("plan", partial)
    assert missing.exit_code == 1
    assert "which is declared nowhere and does not exist in the account" in missing.stderr
    assert "task 'ADMIN'" not in missing.stderr  # a default task exists live
    run("apply", basic_config, "--yes")
    planned = run("plan", partial, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.stderr
    assert "+ create job ACME/WEB-003" in planned.stdout


def test_assignments_need_the_company_list_control(basic_config: Path, emulator: Emulator) -> None:
    emulator.set_company(TaskRestrictionMethod="mytasks")
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert ("jobs.yaml:8:14: tasks: the account's list controls are off for this (Company.TaskRestrictionMethod = "
            "'mytasks'); managing job tasks needs TaskRestrictionMethod = 'byjob': change it in ClickTime") in result.stderr


def test_task_name_taken_live_by_another_code(tmp_path: Path, sandbox_path: Path) -> None:
    config = write_config(tmp_path / "c", {"tasks.yaml": "tasks:\n  DEVEL: {name: Research}\n"})
    result = run("plan", config)
    assert result.exit_code == 1
    assert "tasks.yaml:2:17: task 'DEVEL': name 'Research' is already used by task 'RES' in the account" in result.stderr


def test_create_needs_a_name(tmp_path: Path, sandbox_path: Path) -> None:
    config = write_config(tmp_path / "c", {"clients.yaml": "clients:\n  NEW: {client_number: X-1}\n"})
    result = run("plan", config)
    assert result.exit_code == 1
    assert "clients.yaml:2:3: client 'NEW' does not exist in the account; creating it needs name" in result.stderr


def test_field_left_out_is_not_managed(basic_config: Path, api: ClickTimeClient) -> None:
    run("apply", basic_config, "--yes")
    acme = next(c for c in api.list_all("Clients") if c["ShortName"] == "ACME")
    api.update("Clients", acme["ID"], {"Notes": "edited in the UI"})
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0


def test_empty_string_and_null_are_the_same_text(basic_config: Path, sandbox_path: Path) -> None:
    run("apply", basic_config, "--yes")
    edit(basic_config, "clients.yaml", "GLOBEX: {name: Globex}", "GLOBEX: {name: Globex, notes: '', client_number: null}")
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0


def test_saved_plan_applies_exactly_and_refuses_after_drift(basic_config: Path, tmp_path: Path,
                                                           api: ClickTimeClient) -> None:
    run("apply", basic_config, "--yes")
    edit(basic_config, "clients.yaml", "name: Acme Corporation", "name: Acme Corp")
    planfile = tmp_path / "plan.json"
    assert run("plan", basic_config, "--out", planfile).exit_code == 0
    acme = next(c for c in api.list_all("Clients") if c["ShortName"] == "ACME")
    api.update("Clients", acme["ID"], {"Notes": "changed by someone else"})
    refused = run("apply", basic_config, "--plan", planfile, "--yes")
    assert refused.exit_code == 1
    assert "the account changed since the plan was made; these objects differ: client:ACME" in refused.stderr
    assert next(c for c in api.list_all("Clients") if c["ShortName"] == "ACME")["Name"] == "Acme Corporation"

    assert run("plan", basic_config, "--out", planfile).exit_code == 0
    # an unrelated change does not invalidate the plan
    globex = next(c for c in api.list_all("Clients") if c["ShortName"] == "GLOBEX")
    api.update("Clients", globex["ID"], {"Notes": "unrelated"})
    applied = run("apply", basic_config, "--plan", planfile, "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert next(c for c in api.list_all("Clients") if c["ShortName"] == "ACME")["Name"] == "Acme Corp"
