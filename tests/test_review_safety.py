"""Pull-request review and safety: each test reproduces a complaint users have about tools of
this kind and shows this one behaving well."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import BASIC, REPO, run, write_config

from reconciler.clicktime.client import ClickTimeClient
from reconciler.journal import read_journal
from reconciler.lock import ApplyLock
from reconciler.render.markdown import split_comments
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.server import EmulatorServer, Knobs


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def many_jobs(directory: Path, count: int, prune: str = "ignore") -> Path:
    jobs = {f"J-{n:04d}": {"name": f"Job number {n} with a longish descriptive name"[:50]} for n in range(count)}
    return write_config(directory, {
        "reconciler.yaml": f"prune: {{jobs: {prune}}}\n",
        "clients.yaml": "clients:\n  ACME: {name: Acme Corporation}\n",
        "jobs.yaml": yaml.safe_dump({"jobs": {"ACME": jobs}}),
    })


# -- review ------------------------------------------------------------------------------------

def test_markdown_counts_first_destructive_pinned(basic_config: Path, sandbox_path: Path) -> None:
    run("apply", basic_config, "--yes")
    write_config(basic_config, {"reconciler.yaml": "prune: {users: deactivate}\n"})
    edit(basic_config, "users.yaml", "  bob@example.com: {name: Bob Roe}\n", "")
    edit(basic_config, "jobs.yaml", "users: [jane@example.com]", "users: []")
    edit(basic_config, "clients.yaml", "name: Acme Corporation", "name: Acme Corp")
    text = run("plan", basic_config, "--format", "markdown").stdout
    counts, destructive, clients = (text.index("| action | count |"), text.index("Destructive changes (2)"),
                                    text.index("<details><summary>Clients (1)</summary>"))
    assert counts < destructive < clients
    pinned = text[destructive:clients]
    assert "unassign user `jane@example.com`" in pinned and "deactivate user `bob@example.com`" in pinned
    assert '| update client `ACME` | name | "Acme Corporation" | "Acme Corp" |' in text


def test_long_plans_split_into_comments_that_each_render(tmp_path: Path, sandbox_path: Path) -> None:
    config = many_jobs(tmp_path / "c", 1500)
    out = tmp_path / "comments"
    result = run("plan", config, "--format", "markdown", "--split-to", out)
    assert result.exit_code == 0
    parts = sorted(out.glob("plan-*.md"), key=lambda p: int(p.stem.split("-")[1]))
    assert len(parts) >= 2
    texts = [p.read_text() for p in parts]
    assert all(len(t) <= 65_536 for t in texts)
    assert all(t.count("<details>") == t.count("</details>") for t in texts)
    assert texts[0].startswith(f"### ClickTime plan (part 1 of {len(parts)})")
    joined = "".join(texts)
    assert all(f"`ACME/J-{n:04d}`" in joined for n in range(1500))
    # one table for the client, and the jobs table header repeated in every part
    assert joined.count("| --- | --- | --- | --- |") == 1 + len(parts)


def test_split_keeps_short_text_whole() -> None:
    assert split_comments("### ClickTime plan\n\nsmall\n") == ["### ClickTime plan\n\nsmall\n"]


def test_redact_masks_emails_and_personal_values(basic_config: Path, sandbox_path: Path) -> None:
    edit(basic_config, "users.yaml", "{name: Bob Roe}", "{name: Bob Roe, employee_number: E-77, notes: salary 90k}")
    for fmt in ("markdown", "text", "json"):
        text = run("plan", basic_config, "--format", fmt, "--redact").stdout
        assert "jane@example.com" not in text and "bob@example.com" not in text
        assert "j***@example.com" in text
        assert "E-77" not in text and "90k" not in text


def test_saved_plan_refused_for_another_configuration(basic_config: Path, tmp_path: Path, sandbox_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    run("plan", basic_config, "--out", planfile)
    clients = basic_config / "clients.yaml"
    clients.write_text(clients.read_text() + "# reviewed\n")
    refused = run("apply", basic_config, "--plan", planfile, "--yes")
    assert refused.exit_code == 1
    assert "was made from a different configuration" in refused.stderr
    edit(basic_config, "clients.yaml", "name: Globex", "name: Globex Inc")
    renamed = run("apply", basic_config, "--plan", planfile, "--yes", "--force")
    assert renamed.exit_code == 1  # --force never applies a change the configuration does not make
    assert "do not follow from the configuration" in renamed.stderr and "create client GLOBEX" in renamed.stderr
    edit(basic_config, "clients.yaml", "name: Globex Inc", "name: Globex")
    forced = run("apply", basic_config, "--plan", planfile, "--yes", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "applying it anyway (--force)" in forced.stderr


def test_saved_plan_rereads_only_what_it_touches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = EmulatorServer(Emulator.open(str(tmp_path / "a.sqlite3")), knobs=Knobs(token="t")).start()
    monkeypatch.setenv("RECONCILER_BACKEND", "clicktime")
    monkeypatch.setenv("CLICKTIME_API_URL", server.url)
    monkeypatch.setenv("CLICKTIME_TOKEN", "t")
    try:
        config = many_jobs(tmp_path / "c", 300)
        assert run("apply", config, "--yes").exit_code == 0
        edit(config, "jobs.yaml", "J-0007:\n      name: Job number 7", "J-0007:\n      name: Job seven")
        planfile = tmp_path / "plan.json"
        assert run("plan", config, "--out", planfile).exit_code == 0
        before = dict(server.stats)
        assert run("apply", config, "--plan", planfile, "--yes").exit_code == 0
        calls = {k: v - before.get(k, 0) for k, v in server.stats.items() if v != before.get(k, 0)}
        # Company, Me, the job by ID, the PATCH: no list of the 300 jobs.
        assert calls == {"total": 4, "GET /Company": 1, "GET /Me": 1, "GET /Jobs/{id}": 1, "PATCH /Jobs/{id}": 1}
    finally:
        server.stop()
        server.emulator.close()


def test_drift_exit_code_and_yaml_patch_adopts_live(tmp_path: Path, api: ClickTimeClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(Path("config"), BASIC)
    assert run("apply", config, "--yes").exit_code == 0
    assert run("drift", config).exit_code == 0
    acme = next(c for c in api.list_all("Clients") if c["ShortName"] == "ACME")
    api.update("Clients", acme["ID"], {"Name": "Acme (renamed in UI)"})
    job = next(j for j in api.list_all("Jobs") if j["JobNumber"] == "WEB-001")
    api.unassign(job["ID"], "Tasks", next(t["ID"] for t in api.list_all("Tasks") if t["TaskCode"] == "DEV"))
    drift = run("drift", config)
    assert drift.exit_code == 2
    assert 'name: "Acme Corporation" -> "Acme (renamed in UI)"' not in drift.stdout  # plan direction is revert
    assert 'name: "Acme (renamed in UI)" -> "Acme Corporation"' in drift.stdout
    patch_text = run("drift", config, "--format", "yaml-patch").stdout
    assert "-    name: Acme Corporation" in patch_text and "+    name: Acme (renamed in UI)" in patch_text
    subprocess.run(["patch", "-p1"], input=patch_text, text=True, check=True, capture_output=True)
    assert run("drift", config).exit_code == 0
    assert "tasks: [DESIGN]" in (config / "jobs.yaml").read_text()


def test_examples_for_pull_request_workflows_exist_and_parse() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "reconciler-validate" and hooks[0]["entry"].startswith("reconciler validate")
    workflows = sorted((REPO / "examples" / "github-actions").glob("*.yml"))
    assert len(workflows) >= 2
    text = "".join(w.read_text() for w in workflows)
    for needle in ("reconciler plan", "--split-to", "reconciler apply", "--plan", "reconciler drift", "schedule"):
        assert needle in text, needle
    for workflow in workflows:
        assert "jobs" in yaml.safe_load(workflow.read_text())


# -- guard rails -------------------------------------------------------------------------------

def test_threshold_refuses_mass_deactivation_with_numbers(tmp_path: Path, sandbox_path: Path, api) -> None:
    config = many_jobs(tmp_path / "c", 40, prune="deactivate")
    assert run("apply", config, "--yes").exit_code == 0
    jobs = yaml.safe_load((config / "jobs.yaml").read_text())
    for n in range(5):
        del jobs["jobs"]["ACME"][f"J-{n:04d}"]
    (config / "jobs.yaml").write_text(yaml.safe_dump(jobs))
    refused = run("apply", config, "--yes")
    assert refused.exit_code == 1
    assert ("jobs: the plan deactivates or deletes 5 of 40 active jobs (12%), over the 10% threshold; review it and "
            "pass --force, or set thresholds.jobs.remove_percent") in refused.stderr
    assert all(j["IsActive"] for j in api.list_all("Jobs"))
    write_config(config, {"reconciler.yaml": "prune: {jobs: deactivate}\nthresholds: {jobs: {remove_percent: 20}}\n"})
    assert run("apply", config, "--yes").exit_code == 0
    assert sum(not j["IsActive"] for j in api.list_all("Jobs")) == 5


def test_threshold_override_with_force_and_small_kinds_exempt(tmp_path: Path, sandbox_path: Path) -> None:
    config = many_jobs(tmp_path / "c", 40)
    run("apply", config, "--yes")
    (config / "jobs.yaml").write_text((config / "jobs.yaml").read_text().replace("longish", "short"))
    refused = run("apply", config, "--yes")
    assert "jobs: the plan updates 40 of 40 active jobs (100%), over the 30% threshold" in refused.stderr
    forced = run("apply", config, "--yes", "--force")
    assert forced.exit_code == 0 and "guard rail overridden by --force" in forced.stderr
    small = write_config(tmp_path / "small", BASIC)  # 3 live jobs: below the 10-object minimum
    run("apply", small, "--yes")
    (small / "jobs.yaml").write_text((small / "jobs.yaml").read_text().replace("name: ", "name: New "))
    assert run("apply", small, "--yes").exit_code == 0


def test_protect_holds_back_changes_and_says_so(basic_config: Path, api: ClickTimeClient) -> None:
    run("apply", basic_config, "--yes")
    write_config(basic_config, {"reconciler.yaml": "prune: {jobs: deactivate}\nprotect: {jobs: ['ACME/*']}\n"})
    edit(basic_config, "jobs.yaml", "name: Website Redesign", "name: Hijacked")
    edit(basic_config, "jobs.yaml", "    WEB-002: {name: Shop}\n", "")
    plan = json.loads(run("plan", basic_config, "--format", "json").stdout)
    assert plan["changes"] == []
    assert plan["policy"]["jobs"]["protect"] == ["ACME/*"] and plan["policy"]["jobs"]["protected_skipped"] == 1
    assert "protected, not changed: update job ACME/WEB-001" in plan["warnings"]
    text = run("plan", basic_config).stdout
    assert "protect: ACME/* (1 change(s) held back)" in text
    run("apply", basic_config, "--yes")
    assert {j["JobNumber"]: (j["Name"], j["IsActive"]) for j in api.list_all("Jobs")}["WEB-002"] == ("Shop", True)


def test_ignore_fields_are_neither_compared_nor_written(basic_config: Path, api: ClickTimeClient) -> None:
    run("apply", basic_config, "--yes")
    acme = next(c for c in api.list_all("Clients") if c["ShortName"] == "ACME")
    api.update("Clients", acme["ID"], {"Name": "Set by the billing system"})
    write_config(basic_config, {"reconciler.yaml": "ignore_fields: {clients: [name]}\n"})
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0
    assert "ignore_fields: name" in run("plan", basic_config).stdout


def test_impact_of_destructive_changes_is_shown(basic_config: Path, api: ClickTimeClient) -> None:
    run("apply", basic_config, "--yes")
    jobs = {j["JobNumber"]: j["ID"] for j in api.list_all("Jobs")}
    tasks = {t["TaskCode"]: t["ID"] for t in api.list_all("Tasks")}
    users = {u["Email"]: u["ID"] for u in api.list_all("Users")}
    today = time.strftime("%Y-%m-%d")
    for user, hours in (("jane@example.com", 3), ("bob@example.com", 2.5)):
        api.request("POST", "/TimeEntries", body={"JobID": jobs["WEB-001"], "TaskID": tasks["DEV"],
                                                  "UserID": users[user], "Hours": hours, "Date": today})
    api.request("POST", "/TimeEntries", body={"JobID": jobs["WEB-001"], "TaskID": tasks["DEV"],
                                              "UserID": users["bob@example.com"], "Hours": 8, "Date": "2001-01-01"})
    edit(basic_config, "jobs.yaml", "billable: true", "billable: true\n      active: false")
    text = run("plan", basic_config, "--format", "markdown").stdout
    assert "impact: 5.5 h logged in the last 90 days by 2 people; 1 people assigned" in text


# -- recoverable apply -------------------------------------------------------------------------

def test_failed_create_skips_only_its_dependents(basic_config: Path, tmp_path: Path, api: ClickTimeClient) -> None:
    planfile = tmp_path / "plan.json"
    run("plan", basic_config, "--out", planfile)
    api.create("Clients", {"Name": "Squatter", "ShortName": "SQUAT", "ClientNumber": "C-1001"})
    result = run("apply", basic_config, "--plan", planfile, "--yes")
    assert result.exit_code == 1
    assert "Apply finished with failures: 7 applied, 1 failed, 5 skipped." in result.stderr
    assert "failed: + create client ACME (ClientNumber: Client ClientNumber must be unique" in result.stderr
    assert "skipped: + create job ACME/WEB-001 (needs client ACME, which was not created)" in result.stderr
    assert "skipped: + assign task DEV to job ACME/WEB-001 (needs job ACME/WEB-001" in result.stderr
    assert {j["JobNumber"] for j in api.list_all("Jobs")} == {"G-1"}  # the other client's job went ahead


def test_lock_prevents_two_applies(basic_config: Path, sandbox_path: Path, state_dir: Path, api) -> None:
    with ApplyLock(state_dir / "apply.lock"):
        result = run("apply", basic_config, "--yes")
    assert result.exit_code == 1
    assert "another apply is running against this account from this directory (pid" in result.stderr
    assert api.list_all("Clients") == []
    assert run("apply", basic_config, "--yes").exit_code == 0


def created_objects(emulator: Emulator) -> int:
    counts = emulator.summary()["counts"]
    return sum(counts[c]["active"] + counts[c]["inactive"] for c in ("Clients", "Jobs"))


def posts(server: EmulatorServer) -> int:
    return server.stats["POST /Jobs"] + server.stats["POST /Clients"]


def test_resume_after_kill_repeats_no_completed_write(tmp_path: Path) -> None:
    path, state = tmp_path / "account.sqlite3", tmp_path / "state"
    config = many_jobs(tmp_path / "c", 150)
    server = EmulatorServer(Emulator.open(str(path)), knobs=Knobs(latency_ms=20, token="secret-token")).start()
    baseline = created_objects(server.emulator)
    env = {**os.environ, "RECONCILER_BACKEND": "clicktime", "CLICKTIME_API_URL": server.url,
           "CLICKTIME_TOKEN": "secret-token", "RECONCILER_STATE_DIR": str(state), "NO_COLOR": "1"}
    reconciler = [sys.executable, "-m", "reconciler"]
    try:
        process = subprocess.Popen([*reconciler, "apply", str(config), "--yes", "--concurrency", "2"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while server.stats["POST /Jobs"] < 40 and time.time() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Requests the killed run had sent may still land (a half-sent one is refused, and creates
        # nothing): wait until the server has been quiet for a second before counting.
        last, quiet_since = posts(server), time.time()
        while time.time() - quiet_since < 1.0:
            time.sleep(0.1)
            if posts(server) != last:
                last, quiet_since = posts(server), time.time()
        [journal] = (state / "journal").glob("*.jsonl")
        before = read_journal(journal)
        done_before = {i for i, e in before.events.items() if e == "done"}
        assert not before.finished and 30 <= len(done_before) < 151
        created_before, posts_before = created_objects(server.emulator) - baseline, posts(server)
        assert created_before >= len(done_before)
        resumed = subprocess.run([*reconciler, "apply", str(config), "--resume", "--yes"], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        after = read_journal(journal)
        assert after.finished and all(after.events[i] == "done" for i in range(151))
        # exactly the objects still missing were created: nothing the killed run completed was sent again
        assert posts(server) - posts_before == 151 - created_before
        assert created_objects(server.emulator) - baseline == 151
        check = subprocess.run([*reconciler, "plan", str(config), "--detailed-exitcode"], env=env,
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-1000:]
        assert "secret-token" not in journal.read_text()
    finally:
        server.stop()
        server.emulator.close()
