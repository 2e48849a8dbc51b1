"""What each shipped account profile refuses is a located error in the plan, before any write.

Every test runs on every profile in PROFILES. The expectations below are read off the profile
files (reconciler/sandbox/profiles/*.yaml), not computed by the code under test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run, write_config

from reconciler.clicktime.transport import Request, Response
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.profiles import PROFILES, load_profile

# -- what the profile files say ------------------------------------------------------------------
# The gated fields each profile closes: BillableSetting (Job closes task billable, Task closes job
# billable), EnableProjectApprovals = false, and no Corporate/Enterprise module (user division).
CLOSED_GATES = {
    "new-account": {"task billable", "time_requires_approval", "division"},
    "bills-by-job": {"task billable", "division"},
    "corporate": {"job billable"},
    "corporate-bills-by-job": {"task billable"},
}
# Custom fields defined for clients, as the plan lists them.
CLIENT_FIELDS = {"new-account": "none", "bills-by-job": "industry", "corporate": "industry",
                 "corporate-bills-by-job": "none"}
# Custom fields every new job must carry.
REQUIRED_JOB_FIELDS = {"new-account": [], "bills-by-job": [], "corporate": ["cost_center"],
                       "corporate-bills-by-job": []}
LIST_CONTROLS_OFF = {"new-account"}

BILLABLE_BY_TASK = ("billable: this account sets billability by task (Company.BillableSetting = Task); manage "
                    "billable on tasks, or change the setting in ClickTime")
BILLABLE_BY_JOB = ("billable: this account sets billability by job (Company.BillableSetting = Job); manage "
                   "billable on jobs, or change the setting in ClickTime")
APPROVALS_OFF = ("time_requires_approval: Job Approvals are off in this account (Company.EnableProjectApprovals "
                 "= false); turn them on in ClickTime, or leave time_requires_approval out")
NO_DIVISIONS = ("divisions need ClickTime's Corporate or Enterprise module (Company.OptionalModules has neither); "
                "leave divisions out of the configuration, or upgrade the account")
ADMIN_NOTE = ("ClickTime's API cannot create administrators: created as a manager; promote them in ClickTime "
              "under Company > People")
TWIN_TAIL = ("ClickTime's case rules are undocumented, so it is not created: write the key as the account "
             "has it")
TASKS_OFF = ("tasks: the account's list controls are off for this (Company.TaskRestrictionMethod = None); "
             "managing job tasks needs TaskRestrictionMethod = 'byjob': change it in ClickTime (Company "
             "Preferences > list controls), or leave the list out")
USERS_OFF = ("users: the account's list controls are off for this (Company.JobRestrictionMethod = 'none'); "
             "managing job users needs JobRestrictionMethod = 'byperson': change it in ClickTime (Company "
             "Preferences > list controls), or leave the list out")


def undefined_field(name: str, profile: str) -> str:
    return (f"custom_fields.{name}: no custom field {name!r} is defined for clients in this account (defined: "
            f"{CLIENT_FIELDS[profile]}); define it in ClickTime (Company > Custom Fields) or remove it")


# -- the account, and every request it answers ----------------------------------------------------
@pytest.fixture(params=sorted(PROFILES))
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def fresh_accounts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One freshly reset account file per profile, copied for each test."""
    directory = tmp_path_factory.mktemp("profiles")
    paths = {}
    for name in PROFILES:
        paths[name] = directory / f"{name}.sqlite3"
        emulator = Emulator.open(str(paths[name]))
        emulator.reset(load_profile(name))
        emulator.close()
    return paths


@pytest.fixture
def sandbox_file(profile: str, fresh_accounts: dict[str, Path], tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh in-process sandbox account of `profile`, the one the CLI plans against."""
    path = tmp_path / "sandbox.sqlite3"
    shutil.copyfile(fresh_accounts[profile], path)
    monkeypatch.setenv("RECONCILER_SANDBOX", str(path))
    monkeypatch.delenv("RECONCILER_BACKEND", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    yield path


class Traffic:
    """Every request any Emulator answers (the CLI opens its own on the same file)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[Request] = []
        answer = Emulator.handle

        def handle(emulator: Emulator, request: Request, caller_email: str | None = None) -> Response:
            self.seen.append(request)
            return answer(emulator, request, caller_email)

        monkeypatch.setattr(Emulator, "handle", handle)

    def reads(self) -> list[Request]:
        return [r for r in self.seen if r.method.upper() == "GET"]

    def writes(self) -> list[Request]:
        return [r for r in self.seen if r.method.upper() != "GET"]


@pytest.fixture
def account(profile: str, sandbox_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, Traffic]]:
    emulator = Emulator.open(str(sandbox_file))
    assert emulator.profile.name == profile
    yield emulator, Traffic(monkeypatch)
    emulator.close()


def ok(emulator: Emulator, method: str, path: str, body: Any = None) -> Any:
    response = emulator.handle(Request(method, path, (), body))
    assert 200 <= response.status < 300, response.body
    return response.body["data"]


def arrange_live(emulator: Emulator, profile: str) -> None:
    """Live before the plan: client ACME, task DEV, and job ACME/WEB-1 managed by the owner."""
    owner = ok(emulator, "GET", "/Me")
    client = ok(emulator, "POST", "/Clients", {"Name": "Acme", "ShortName": "ACME"})
    ok(emulator, "POST", "/Tasks", {"Name": "Development", "TaskCode": "DEV"})
    required = {name: "CC-1" for name in REQUIRED_JOB_FIELDS[profile]}
    ok(emulator, "POST", "/Jobs", {"Name": "Web", "JobNumber": "WEB-1", "ClientID": client["ID"],
                                   "ProjectManagerID": owner["ID"], **({"CustomFields": required} if required else {})})


def located(stderr: str, config: Path) -> list[str]:
    """The located problems, each less the configuration directory; nothing else may be reported."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    prefix = f"{config}/"
    problems = [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]
    others = [line for line in lines if not line.startswith(prefix)]
    count = len(problems)
    assert others == [f"Error: {count} problem{'s' if count != 1 else ''} found; nothing was changed"], stderr
    return problems


def refused(config: Path, traffic: Traffic) -> list[str]:
    """Plan `config`: it must fail, having read the account and written nothing to it."""
    traffic.seen.clear()
    result = run("plan", config)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert traffic.reads(), "the plan never reached the account"
    assert traffic.writes() == []
    return located(result.stderr, config)


def planned(config: Path, traffic: Traffic, *args: str) -> str:
    """Plan `config`: it must succeed without a problem, having written nothing."""
    traffic.seen.clear()
    result = run("plan", config, *args)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert traffic.reads(), "the plan never reached the account"
    assert traffic.writes() == []
    return result.stdout


def test_expectations_cover_every_shipped_profile() -> None:
    for table in (CLOSED_GATES, CLIENT_FIELDS, REQUIRED_JOB_FIELDS):
        assert set(table) == set(PROFILES)
    assert set(PROFILES) >= LIST_CONTROLS_OFF


# -- gated fields -------------------------------------------------------------------------------
GATES: dict[str, tuple[dict[str, str], list[str]]] = {
    "job billable": ({"jobs.yaml": """
        jobs:
          ACME:
            WEB-1:
              name: Web
              billable: true
        """}, [f"jobs.yaml:5:17: {BILLABLE_BY_TASK}"]),
    "task billable": ({"tasks.yaml": """
        tasks:
          DEV:
            name: Development
            billable: true
        """}, [f"tasks.yaml:4:15: {BILLABLE_BY_JOB}"]),
    "time_requires_approval": ({"jobs.yaml": """
        jobs:
          ACME:
            WEB-1:
              name: Web
              time_requires_approval: true
        """}, [f"jobs.yaml:5:31: {APPROVALS_OFF}"]),
    "division": ({"divisions.yaml": """
        divisions:
          East: {}
        """, "users.yaml": """
        users:
          a@example.com:
            name: A
            division: East
        """}, [f"divisions.yaml:2:3: division 'East': {NO_DIVISIONS}", f"users.yaml:4:15: division: {NO_DIVISIONS}"]),
}


@pytest.mark.parametrize("gate", sorted(GATES))
def test_gated_field_is_refused_where_closed_and_planned_where_open(
        gate: str, profile: str, account: tuple[Emulator, Traffic], tmp_path: Path) -> None:
    emulator, traffic = account
    arrange_live(emulator, profile)
    files, expected = GATES[gate]
    config = write_config(tmp_path / "config", files)
    if gate in CLOSED_GATES[profile]:
        assert refused(config, traffic) == expected
    else:
        planned(config, traffic)


# -- custom fields ------------------------------------------------------------------------------
def test_undefined_custom_field_is_refused(profile: str, account: tuple[Emulator, Traffic], tmp_path: Path) -> None:
    _, traffic = account
    config = write_config(tmp_path / "config", {"clients.yaml": """
        clients:
          NEW:
            name: New
            custom_fields:
              nope: x
        """})
    assert refused(config, traffic) == [f"clients.yaml:5:7: {undefined_field('nope', profile)}"]


def test_custom_field_is_refused_only_where_undefined(profile: str, account: tuple[Emulator, Traffic],
                                                     tmp_path: Path) -> None:
    _, traffic = account
    config = write_config(tmp_path / "config", {"clients.yaml": """
        clients:
          NEW:
            name: New
            custom_fields:
              industry: Retail
        """})
    if CLIENT_FIELDS[profile] == "none":
        assert refused(config, traffic) == [f"clients.yaml:5:7: {undefined_field('industry', profile)}"]
    else:
        assert '+ create client NEW\n      custom_fields: {"industry": "Retail"}' in planned(config, traffic)


def test_undefined_custom_field_is_located_at_its_own_key(profile: str, account: tuple[Emulator, Traffic],
                                                          tmp_path: Path) -> None:
    _, traffic = account
    config = write_config(tmp_path / "config", {"clients.yaml": """
        clients:
          NEW:
            name: New
            custom_fields:
              industry: Retail
              nope: x
        """})
    expected = [f"clients.yaml:6:7: {undefined_field('nope', profile)}"]
    if CLIENT_FIELDS[profile] == "none":
        expected.insert(0, f"clients.yaml:5:7: {undefined_field('industry', profile)}")
    assert refused(config, traffic) == expected


@pytest.mark.parametrize("profile", ["corporate"])
def test_custom_field_value_outside_its_definition_is_refused(profile: str, account: tuple[Emulator, Traffic],
                                                              tmp_path: Path) -> None:
    _, traffic = account
    config = write_config(tmp_path / "config", {"clients.yaml": """
        clients:
          ACME: {name: Acme}
        """, "jobs.yaml": """
        jobs:
          ACME:
            WEB-2:
              name: Shop
              custom_fields:
                cost_center: CC-1
                contract_type: Nonsense
                budget_hours: lots
        """})
    problems = refused(config, traffic)
    assert [p.split(": ", 1)[0] for p in problems] == ["jobs.yaml:7:24", "jobs.yaml:8:23"]
    assert "contract_type" in problems[0] and "Nonsense" in problems[0] and "Retainer" in problems[0]
    assert "budget_hours" in problems[1] and "lots" in problems[1]


def test_required_custom_field_missing_on_create(profile: str, account: tuple[Emulator, Traffic],
                                                 tmp_path: Path) -> None:
    _, traffic = account
    config = write_config(tmp_path / "config", {"clients.yaml": """
        clients:
          ACME: {name: Acme}
        """, "jobs.yaml": """
        jobs:
          ACME:
            WEB-2: {name: Shop}
        """})
    required = REQUIRED_JOB_FIELDS[profile]
    if required:
        assert refused(config, traffic) == [
            f"jobs.yaml:3:5: job 'ACME/WEB-2': the account requires the custom field(s) {', '.join(required)} "
            "for new jobs; declare them under custom_fields"]
    else:
        assert "+ create job ACME/WEB-2" in planned(config, traffic)


# -- administrators -----------------------------------------------------------------------------
def test_administrator_is_created_as_manager_with_a_note(profile: str, account: tuple[Emulator, Traffic],
                                                         tmp_path: Path) -> None:
    emulator, traffic = account
    config = write_config(tmp_path / "config", {"users.yaml": """
        users:
          boss@example.com: {name: Boss, security_level: admin}
        """})
    plan = json.loads(planned(config, traffic, "--format", "json"))
    [change] = plan["changes"]
    assert (change["action"], change["key"], change["notes"]) == ("create", "boss@example.com", [ADMIN_NOTE])
    assert change["fields"]["security_level"] == {"old": None, "new": "manager"}
    assert f"note: {ADMIN_NOTE}" in planned(config, traffic)

    traffic.seen.clear()
    applied = run("apply", config, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    [create] = traffic.writes()
    assert (create.method, create.path) == ("POST", "/Users")
    assert create.body["SecurityLevel"] == "MANAGER"
    boss = next(u for u in ok(emulator, "GET", "/Users") if u["Email"] == "boss@example.com")
    assert boss["SecurityLevel"] == "MANAGER"

    again = json.loads(planned(config, traffic, "--format", "json"))
    assert again["changes"] == []
    assert all("boss@example.com" in w and "security_level" in w for w in again["warnings"])
    assert run("plan", config, "--detailed-exitcode").exit_code == 0


# -- keys that differ only in case --------------------------------------------------------------
TWINS = {
    "client": ({"clients.yaml": "clients:\n  acme: {name: Acme two}\n"},
               f"clients.yaml:2:3: client 'acme' differs only in case from 'ACME' in the account (ShortName); "
               f"{TWIN_TAIL}"),
    "task": ({"tasks.yaml": "tasks:\n  dev: {name: Dev two}\n"},
             f"tasks.yaml:2:3: task 'dev' differs only in case from 'DEV' in the account (TaskCode); {TWIN_TAIL}"),
    "job": ({"jobs.yaml": "jobs:\n  ACME:\n    web-1: {name: Web two%s}\n"},
            f"jobs.yaml:3:5: job 'ACME/web-1' differs only in case from 'ACME/WEB-1' in the account (JobNumber); "
            f"{TWIN_TAIL}"),
}


@pytest.mark.parametrize("kind", sorted(TWINS))
def test_key_differing_only_in_case_from_a_live_key_is_refused(
        kind: str, profile: str, account: tuple[Emulator, Traffic], tmp_path: Path) -> None:
    emulator, traffic = account
    arrange_live(emulator, profile)
    files, expected = TWINS[kind]
    required = "".join(f", custom_fields: {{{name}: CC-2}}" for name in REQUIRED_JOB_FIELDS[profile])
    files = {name: text.replace("%s", required) for name, text in files.items()}
    config = write_config(tmp_path / "config", files)
    assert refused(config, traffic) == [expected]


# -- list controls ------------------------------------------------------------------------------
def test_assignments_need_the_list_controls(profile: str, account: tuple[Emulator, Traffic], tmp_path: Path) -> None:
    emulator, traffic = account
    arrange_live(emulator, profile)
    config = write_config(tmp_path / "config", {"users.yaml": """
        users:
          a@example.com: {name: A}
        """, "jobs.yaml": """
        jobs:
          ACME:
            WEB-1:
              name: Web
              tasks: [DEV]
              users: [a@example.com]
        """})
    if profile in LIST_CONTROLS_OFF:
        assert refused(config, traffic) == [f"jobs.yaml:5:14: {TASKS_OFF}", f"jobs.yaml:6:14: {USERS_OFF}"]
    else:
        plan = json.loads(planned(config, traffic, "--format", "json"))
        assert [(c["action"], c.get("list"), c.get("target")) for c in plan["changes"]] == [
            ("create", None, None), ("assign", "tasks", "DEV"), ("assign", "users", "a@example.com")]


# -- every problem at once ----------------------------------------------------------------------
def test_every_problem_is_reported_at_once(profile: str, account: tuple[Emulator, Traffic], tmp_path: Path) -> None:
    emulator, traffic = account
    arrange_live(emulator, profile)
    config = write_config(tmp_path / "config", {
        "clients.yaml": """
            clients:
              acme: {name: Acme two}
              NEW:
                name: New
                custom_fields:
                  nope: x
            """,
        "tasks.yaml": """
            tasks:
              DEV:
                name: Development
                billable: true
            """,
        "jobs.yaml": """
            jobs:
              ACME:
                WEB-1:
                  name: Web
                  billable: true
                  time_requires_approval: true
                  tasks: [DEV]
                WEB-2: {name: Shop}
            """,
        "divisions.yaml": "divisions:\n  East: {}\n",
        "users.yaml": "users:\n  a@example.com: {name: A, division: East}\n",
    })
    closed = CLOSED_GATES[profile]
    expected = [
        f"clients.yaml:2:3: client 'acme' differs only in case from 'ACME' in the account (ShortName); {TWIN_TAIL}",
        f"clients.yaml:6:7: {undefined_field('nope', profile)}",
        *([f"divisions.yaml:2:3: division 'East': {NO_DIVISIONS}"] if "division" in closed else []),
        *([f"jobs.yaml:5:17: {BILLABLE_BY_TASK}"] if "job billable" in closed else []),
        *([f"jobs.yaml:6:31: {APPROVALS_OFF}"] if "time_requires_approval" in closed else []),
        *([f"jobs.yaml:7:14: {TASKS_OFF}"] if profile in LIST_CONTROLS_OFF else []),
        *([f"jobs.yaml:8:5: job 'ACME/WEB-2': the account requires the custom field(s) "
           f"{', '.join(REQUIRED_JOB_FIELDS[profile])} for new jobs; declare them under custom_fields"]
          if REQUIRED_JOB_FIELDS[profile] else []),
        *([f"tasks.yaml:4:15: {BILLABLE_BY_JOB}"] if "task billable" in closed else []),
        *([f"users.yaml:2:38: division: {NO_DIVISIONS}"] if "division" in closed else []),
    ]
    assert len(expected) >= 3
    assert refused(config, traffic) == expected
