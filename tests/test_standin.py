"""The tool, as a user runs it, against independent stand-ins for ClickTime's API and Membrane's CLI
(tests/standin/), written from the reference documents alone, not from the project's emulator.
Where the documents leave a behaviour open, the stand-ins answer the way least convenient for a
client; each test names the switches it turns."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO, Result, run

sys.path.insert(0, str(REPO / "tests" / "standin"))
from clicktime_standin import Options, StandIn, option_from_text

MEMBRANE = REPO / "tests" / "standin" / "membrane"

# Inactive objects, dates, custom fields of every type, divisions, employment types, and
# assignment lists that name inactive users and tasks, on inactive jobs too.
FULL = """
divisions:
  Delivery: {notes: Billable work}
  Legacy: {active: false}
employment_types:
  Full-time: {}
  Contractor: {active: false}
clients:
  ACME:
    name: Acme Corporation
    client_number: C-1
    custom_fields: {industry: Retail, tier: Gold}
  OLDCO:
    name: Old Company
    active: false
    custom_fields: {tier: Silver}
tasks:
  DEV: {name: Development, billable: true, custom_fields: {phase: build}}
  DSN: {name: Design, billable: false}
  ARCH: {name: Archive work, active: false, billable: false}
users:
  jane@example.com:
    name: Jane Doe
    security_level: manager
    start_date: 2024-01-15
    division: Delivery
    employment_type: Full-time
    custom_fields: {badge: B-1}
  bob@example.com:
    name: Bob Smith
    active: false
    start_date: 2020-03-01
    end_date: 2024-06-30
  amy@example.com: {name: Amy Admin, security_level: manager}
jobs:
  ACME:
    WEB-001:
      name: Website
      start_date: 2025-02-03
      end_date: 2025-12-31
      project_manager: jane@example.com
      time_requires_approval: true
      custom_fields: {cost_center: CC-10, budget_hours: 120, kickoff: 2025-02-10}
      tasks: [DEV, DSN]
      users: [jane@example.com, bob@example.com]
    WEB-002:
      name: Old site
      active: false
      custom_fields: {cost_center: CC-11}
      tasks: [DEV, ARCH]
      users: [amy@example.com, bob@example.com]
  OLDCO:
    OC-1:
      name: Legacy job
      active: false
      custom_fields: {cost_center: CC-99}
"""
SETTINGS = "prune: {clients: ignore, jobs: ignore, tasks: ignore, users: ignore}\n"


def standin_with(switches: str, profile: str) -> StandIn:
    options = Options(profile=profile)
    for text in switches.split():
        option_from_text(options, text)
    return StandIn(options)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("RECONCILER_BACKEND", "MEMBRANE_BIN", "MEMBRANE_CONNECTION_ID", "MEMBRANE_CLICKTIME_PATH_PREFIX",
                 "MEMBRANE_RECORD_DIR", "CLICKTIME_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def serve(standin: StandIn, backend: str, env: pytest.MonkeyPatch, tmp_path: Path,
          membrane: dict[str, object] | None = None) -> None:
    """Points `backend` at the running stand-in: straight over HTTP, or through the Membrane CLI
    stand-in, which holds the ClickTime token itself (the tool gets none)."""
    url = standin.start()
    if backend == "clicktime":
        env.setenv("CLICKTIME_API_URL", url)
        env.setenv("CLICKTIME_TOKEN", standin.token)
        return
    env.delenv("CLICKTIME_TOKEN", raising=False)
    env.delenv("CLICKTIME_API_URL", raising=False)
    config = tmp_path / "membrane-standin.json"
    config.write_text(json.dumps({"upstream": url, "upstream_token": standin.token,
                                  "log": str(tmp_path / "membrane-calls.log"), **(membrane or {})}))
    env.setenv("STANDIN_MEMBRANE_CONFIG", str(config))
    # The script run by this interpreter directly (MEMBRANE_BIN may be a command): a Python
    # start-up per call, without a version manager's shim in front of it.
    env.setenv("MEMBRANE_BIN", f"{sys.executable} -I -S {MEMBRANE}")


@pytest.fixture
def stand_ins() -> Iterator[list[StandIn]]:
    started: list[StandIn] = []
    yield started
    for standin in started:
        standin.stop()


def check(result: Result, code: int = 0) -> Result:
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def converge(config: Path, backend: str, tmp_path: Path, token: str, full: bool = True) -> None:
    """doctor, apply, a second plan that shows no changes, and (`full`) import and a plan of the
    import that shows none either; no output or file the tool writes holds the token."""
    outputs = [check(run("doctor", config, "--backend", backend))] if full else []
    outputs.append(check(run("apply", config, "--backend", backend, "--yes")))
    outputs.append(check(run("plan", config, "--backend", backend, "--detailed-exitcode")))
    if full:
        imported = tmp_path / "imported"
        outputs.append(check(run("import", "--out", imported, "--backend", backend)))
        outputs.append(check(run("plan", imported, "--backend", backend, "--detailed-exitcode")))
    no_token(outputs, tmp_path, token)


def no_token(outputs: list[Result], tmp_path: Path, token: str) -> None:
    for result in outputs:
        assert token not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".sqlite3" and path.name != "membrane-standin.json":
            assert token.encode() not in path.read_bytes(), path


def full_config(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    (config / "reconciler.yaml").write_text(SETTINGS)
    (config / "account.yaml").write_text(FULL)
    return config


@pytest.mark.parametrize(("example", "profile"), [("agency", "bills-by-job"),
                                                  ("onboarding", "corporate-bills-by-job")])
def test_examples_converge_on_the_strictest_account(example: str, profile: str, env: pytest.MonkeyPatch,
                                                    tmp_path: Path, stand_ins: list[StandIn]) -> None:
    standin = standin_with("max_page=7", profile)
    stand_ins.append(standin)
    serve(standin, "clicktime", env, tmp_path)
    converge(EXAMPLES / example, "clicktime", tmp_path, standin.token)
    assert not standin.unknown


@pytest.mark.parametrize("backend", ["clicktime", "membrane"])
def test_inactive_targets_hidden_from_assignment_reads(backend: str, env: pytest.MonkeyPatch, tmp_path: Path,
                                                       stand_ins: list[StandIn]) -> None:
    """GET /Jobs/{id}/Users without IsActive may hide inactive users (an open question): an
    inactive user on a job was then planned as "assign" on every run, and the apply's repair
    POST was refused as a duplicate. The client reads the inactive ones apart (IsActive=false)."""
    standin = standin_with("assignments_hide_inactive=true", "standin-full")
    stand_ins.append(standin)
    config = full_config(tmp_path)
    serve(standin, "clicktime", env, tmp_path)
    if backend == "clicktime":
        converge(config, backend, tmp_path, standin.token)
    else:  # applied directly (a process per Membrane call makes a whole apply slow), planned through Membrane
        check(run("apply", config, "--backend", "clicktime", "--yes"))
        standin.stop()
        serve(standin, backend, env, tmp_path)
        no_token([check(run("plan", config, "--backend", backend, "--detailed-exitcode"))], tmp_path, standin.token)
    assert not [call for call in standin.calls if call[2] >= 400]


def test_inactive_users_hidden_on_many_jobs_read_the_other_way(env: pytest.MonkeyPatch, tmp_path: Path,
                                                               stand_ins: list[StandIn]) -> None:
    """Enough jobs that the plan reads assignments per task and per user; inactive jobs, tasks
    and users throughout; per-job reads hide inactive users."""
    jobs = "".join(f"    J{i:02d}: {{name: Job {i}, {'active: false, ' if i >= 20 else ''}tasks: [T1, T3], "
                   f"users: [u1@example.com, u2@example.com]}}\n" for i in range(25))
    config = tmp_path / "config"
    config.mkdir()
    (config / "reconciler.yaml").write_text(SETTINGS)
    (config / "account.yaml").write_text(textwrap.dedent("""\
        clients:
          C1: {name: Client One}
        tasks:
          T1: {name: Task one}
          T3: {name: Task three, active: false}
        users:
          u1@example.com: {name: U One}
          u2@example.com: {name: U Two, active: false}
        jobs:
          C1:
        """) + jobs)
    standin = standin_with("assignments_hide_inactive=true", "bills-by-job")
    stand_ins.append(standin)
    serve(standin, "clicktime", env, tmp_path)
    converge(config, "clicktime", tmp_path, standin.token)


@pytest.mark.parametrize("switches", [
    "nulls=null datetimes=false duplicate_status=422 refuse_admin=false",
    "max_page=2 default_page=2 absolute_links=false envelope_extras=false optional_modules_as_text=true",
    "gated=drop custom_fields_patch=merge hide_inactive=false throttle_every=11 retry_after=0",
])
def test_full_account_converges_whichever_way_the_open_questions_fall(switches: str, env: pytest.MonkeyPatch,
                                                                       tmp_path: Path,
                                                                       stand_ins: list[StandIn]) -> None:
    standin = standin_with(switches, "standin-full")
    stand_ins.append(standin)
    serve(standin, "clicktime", env, tmp_path)
    converge(full_config(tmp_path), "clicktime", tmp_path, standin.token)


@pytest.mark.parametrize("membrane", [
    {"output": "body"},
    {"upstream_errors": "membrane", "error_stream": "stdout", "query": "first"},
    {"connection_list": "list", "banner": "Update available: 1.19.0"},
])
def test_membrane_output_forms(membrane: dict[str, object], env: pytest.MonkeyPatch, tmp_path: Path,
                               stand_ins: list[StandIn]) -> None:
    """doctor and a converged plan through each documented form of Membrane's output, on an
    account applied directly (a Node-like start-up per call makes a whole apply slow)."""
    standin = standin_with("", "standin-full")
    stand_ins.append(standin)
    config = full_config(tmp_path)
    serve(standin, "clicktime", env, tmp_path)
    check(run("apply", config, "--backend", "clicktime", "--yes"))
    standin.stop()
    serve(standin, "membrane", env, tmp_path, membrane)
    command = "doctor" if "connection_list" in membrane else "plan"  # doctor is the one to list connections
    outputs = [check(run(command, config, "--backend", "membrane", "--detailed-exitcode"))] if command == "plan" else \
        [check(run("doctor", config, "--backend", "membrane"))]
    no_token(outputs, tmp_path, standin.token)


def test_doctor_probe_on_a_used_account(env: pytest.MonkeyPatch, tmp_path: Path, stand_ins: list[StandIn]) -> None:
    """After an apply the probe has inactive records, dates and unset fields to tell by: it says
    how this account answers and still plans clean."""
    standin = standin_with("", "standin-full")
    stand_ins.append(standin)
    serve(standin, "clicktime", env, tmp_path)
    config = full_config(tmp_path)
    check(run("apply", config, "--backend", "clicktime", "--yes"))
    probe = check(run("doctor", config, "--backend", "clicktime", "--probe")).stdout
    assert "lists hide inactive records unless IsActive is sent" in probe
    assert "No changes" in probe or "plan of" in probe
    assert standin.token not in probe
