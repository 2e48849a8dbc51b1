"""Account profiles: what each kind of account accepts, and loading profiles from YAML."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, run

from reconciler.clicktime.transport import Request, Response
from reconciler.errors import ReconcilerError
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.profiles import DEFAULT_PROFILE, PROFILES, Profile, load_profile

# What GET /Company says on each shipped profile.
COMPANY = {
    "new-account": {"BillableSetting": "Job", "JobRestrictionMethod": "none", "TaskRestrictionMethod": None,
                    "EnableProjectApprovals": False, "OptionalModules": {}},
    "bills-by-job": {"BillableSetting": "Job", "JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob",
                     "EnableProjectApprovals": True, "OptionalModules": {}},
    "corporate": {"BillableSetting": "Task", "JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob",
                  "EnableProjectApprovals": True, "OptionalModules": {"Corporate": True}},
    "corporate-bills-by-job": {"BillableSetting": "Job", "JobRestrictionMethod": "byperson",
                               "TaskRestrictionMethod": "byjob", "EnableProjectApprovals": True,
                               "OptionalModules": {"Corporate": True}},
}


def account(profile: str | Profile) -> Emulator:
    emulator = Emulator.open(":memory:")
    emulator.reset(load_profile(profile) if isinstance(profile, str) else profile)
    return emulator


def call(emu: Emulator, method: str, path: str, body: Any = None, *query: tuple[str, str]) -> Response:
    return emu.handle(Request(method, path, tuple(query), body))


def ok(emu: Emulator, method: str, path: str, body: Any = None, *query: tuple[str, str]) -> Any:
    response = call(emu, method, path, body, *query)
    assert 200 <= response.status < 300, response.body
    return response.body["data"]


def message(response: Response, status: int = 400) -> str:
    assert response.status == status, response.body
    return str(response.body["errors"][0]["Message"])


def new_job(emu: Emulator, **fields: Any) -> Response:
    clients = ok(emu, "GET", "/Clients", None, ("ShortName", "ACME"))
    client = clients[0] if clients else ok(emu, "POST", "/Clients", {"Name": "Acme", "ShortName": "ACME"})
    return call(emu, "POST", "/Jobs", {"Name": "J", "JobNumber": fields.pop("JobNumber", "1"),
                                       "ClientID": client["ID"], **fields})


def cost_center(emu: Emulator) -> dict[str, Any]:
    """What a new job needs on this account: the corporate profile requires a cost center."""
    return {"CustomFields": {"cost_center": "CC-1"}} if emu.profile.name == "corporate" else {}


# -- the registry and the shipped files ----------------------------------------------------------
def test_registry_lists_every_shipped_file_with_its_description() -> None:
    shipped = {p.stem for p in (Path(__file__).parents[1] / "reconciler" / "sandbox" / "profiles").glob("*.yaml")}
    assert shipped == set(PROFILES) == set(COMPANY)
    assert DEFAULT_PROFILE == "bills-by-job"
    for name, description in PROFILES.items():
        profile = load_profile(name)
        assert (profile.name, profile.description) == (name, description)
        assert "\n" not in description


@pytest.mark.parametrize("name", sorted(COMPANY))
def test_company_settings_per_profile(name: str) -> None:
    company = ok(account(name), "GET", "/Company")
    assert {k: company.get(k, "absent") for k in COMPANY[name]} == COMPANY[name]
    assert "BillabilityBy" not in company


def test_a_fresh_database_gets_the_default_profile(tmp_path: Path) -> None:
    emulator = Emulator.open(str(tmp_path / "fresh.sqlite3"))
    assert emulator.profile.name == "bills-by-job"
    assert ok(emulator, "GET", "/Company")["EnableProjectApprovals"] is True
    emulator.close()


def test_reset_keeps_the_profile_when_reopened(tmp_path: Path) -> None:
    path = str(tmp_path / "account.sqlite3")
    first = Emulator.open(path)
    first.reset(load_profile("corporate"))
    first.close()
    again = Emulator.open(path)
    assert again.profile == load_profile("corporate")
    assert ok(again, "GET", "/Company")["BillableSetting"] == "Task"
    assert [d["Name"] for d in ok(again, "GET", "/Jobs/CustomFieldDefinitions")] == [
        "budget_hours", "contract_type", "cost_center"]  # sorted by DisplayName
    again.close()


def test_set_company_does_not_change_the_recorded_profile() -> None:
    emu = account("corporate")
    emu.set_company(BillableSetting="Job")
    assert emu.profile.company["BillableSetting"] == "Task"
    assert ok(emu, "GET", "/Company")["BillableSetting"] == "Job"


# -- gates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(COMPANY))
def test_billability_is_accepted_on_one_kind_only(name: str) -> None:
    emu = account(name)
    by = COMPANY[name]["BillableSetting"]
    job = new_job(emu, IsBillable=False, **cost_center(emu))
    task = call(emu, "POST", "/Tasks", {"Name": "Dev", "TaskCode": "DEV", "IsBillable": False})
    if by == "Job":
        assert job.status == 201 and job.body["data"]["IsBillable"] is False
        assert "IsBillable needs the company setting BillableSetting=Task (it is Job)" in message(task)
        assert "IsBillable" not in ok(emu, "GET", "/Tasks")[0]
    else:
        assert task.status == 201 and task.body["data"]["IsBillable"] is False
        assert "IsBillable needs the company setting BillableSetting=Job (it is Task)" in message(job)
        assert "IsBillable" not in ok(emu, "GET", "/Jobs/new")
    assert task.body["errors" if by == "Job" else "data"]
    assert job.body["data" if by == "Job" else "errors"]


@pytest.mark.parametrize("name", sorted(COMPANY))
def test_time_requires_approval_needs_job_approvals(name: str) -> None:
    emu = account(name)
    manager = ok(emu, "POST", "/Users", {"Name": "M", "Email": "m@example.com", "SecurityLevel": "MANAGER"})
    job = new_job(emu, TimeRequiresApproval=True, ProjectManagerID=manager["ID"], **cost_center(emu))
    if COMPANY[name]["EnableProjectApprovals"]:
        assert job.body["data"]["TimeRequiresApproval"] is True
        assert "ProjectManagerID is required" in message(
            new_job(emu, JobNumber="2", TimeRequiresApproval=True, **cost_center(emu)))
    else:
        expected = "TimeRequiresApproval needs the company setting EnableProjectApprovals=true (it is false)"
        assert expected in message(job)
        assert "TimeRequiresApproval" not in ok(emu, "GET", "/Jobs/new")


@pytest.mark.parametrize("name", sorted(COMPANY))
def test_divisions_need_corporate_or_enterprise(name: str) -> None:
    emu = account(name)
    corporate = bool(COMPANY[name]["OptionalModules"])
    created = call(emu, "POST", "/Divisions", {"Name": "Engineering"})
    if corporate:
        division = created.body["data"]
        user = ok(emu, "POST", "/Users", {"Name": "U", "Email": "u@example.com", "DivisionID": division["ID"]})
        assert user["DivisionID"] == division["ID"]
        assert [d["Name"] for d in ok(emu, "GET", "/Divisions")] == ["Engineering"]
        return
    assert "Divisions need the company setting OptionalModules Corporate or Enterprise" in message(created)
    for path in ("/Divisions", "/Divisions/new", "/Divisions/x", "/Divisions/CustomFieldDefinitions"):
        assert "OptionalModules Corporate or Enterprise" in message(call(emu, "GET", path)), path
    user = call(emu, "POST", "/Users", {"Name": "U", "Email": "u@example.com", "DivisionID": "x"})
    assert "DivisionID needs the company setting OptionalModules Corporate or Enterprise (it is none)" in message(user)
    assert "DivisionID" not in ok(emu, "GET", "/Users/new")


def test_enterprise_module_opens_divisions_too() -> None:
    emu = account("new-account")
    emu.set_company(OptionalModules={"Enterprise": True})
    assert ok(emu, "POST", "/Divisions", {"Name": "Ops"})["Name"] == "Ops"


@pytest.mark.parametrize("name", sorted(COMPANY))
def test_assignment_endpoints_per_profile(name: str) -> None:
    emu = account(name)
    job = new_job(emu, **cost_center(emu)).body["data"]
    task = ok(emu, "GET", "/Tasks")[0]["ID"]
    owner = ok(emu, "GET", "/Users")[0]["ID"]
    calls = [("GET", f"/Jobs/{job['ID']}/Tasks", None), ("POST", f"/Jobs/{job['ID']}/Tasks", {"TaskID": task}),
             ("PUT", f"/Jobs/{job['ID']}/Tasks", [task]), ("GET", f"/Tasks/{task}/Jobs", None),
             ("GET", f"/Jobs/{job['ID']}/Users", None), ("PUT", f"/Jobs/{job['ID']}/Users", [owner]),
             ("GET", "/Users", None)]
    answers = [call(emu, method, path, body, *([("JobID", job["ID"])] if path == "/Users" else []))
               for method, path, body in calls]
    if COMPANY[name]["JobRestrictionMethod"] == "byperson":
        assert [a.status for a in answers] == [200, 201, 200, 200, 200, 200, 200]
        assert [u["ID"] for u in answers[-1].body["data"]] == [owner]
    else:
        assert [a.status for a in answers] == [403] * 7
        assert "TaskRestrictionMethod=byjob (it is None)" in message(answers[0], 403)
        assert "JobRestrictionMethod=byperson (it is none)" in message(answers[4], 403)


def test_billing_rate_fields_follow_the_billing_rate_model() -> None:
    emu = account("bills-by-job")  # BillingRateModel JOB
    client = ok(emu, "POST", "/Clients", {"Name": "Acme", "ShortName": "ACME"})
    assert "BillingRate needs the company setting BillingRateModel=USER_CLIENT (it is JOB)" in message(
        call(emu, "PATCH", f"/Clients/{client['ID']}", {"BillingRate": 90}))
    assert "SecondaryBillingRateMode needs the company setting BillingRateModel=TASK_JOB or BillingRateModel=USER_JOB" \
        in message(new_job(emu, SecondaryBillingRateMode="FLAT"))
    assert "IncludeInRM needs the company setting OptionalModules Resource Management" in message(
        new_job(emu, IncludeInRM=True))
    assert new_job(emu, BillingRate=120.5).body["data"]["BillingRate"] == 120.5
    emu.set_company(BillingRateModel="USER_CLIENT", OptionalModules={"Resource Management": True})
    assert ok(emu, "PATCH", f"/Clients/{client['ID']}", {"BillingRate": 90})["BillingRate"] == 90
    assert ok(emu, "GET", f"/Clients/{client['ID']}")["SecondaryBillingRateMode"] == "INHERIT"
    assert new_job(emu, JobNumber="2", IncludeInRM=True).body["data"]["IncludeInRM"] is True
    assert "BillingRate" not in ok(emu, "GET", "/Jobs/new")


# -- custom fields -------------------------------------------------------------------------------
def test_required_custom_field_on_create_and_replace() -> None:
    emu = account("corporate")
    missing = new_job(emu)
    assert "the required custom field 'cost_center' (Cost center) is missing" in message(missing)
    assert "'cost_center'" in message(new_job(emu, CustomFields={"budget_hours": 10}))
    job = new_job(emu, CustomFields={"cost_center": "CC-7", "contract_type": "Retainer", "budget_hours": 120})
    assert job.status == 201 and job.body["data"]["CustomFields"]["cost_center"] == "CC-7"
    job_id = job.body["data"]["ID"]
    assert ok(emu, "PATCH", f"/Jobs/{job_id}", {"Name": "Renamed"})["CustomFields"]["cost_center"] == "CC-7"
    assert "'cost_center'" in message(call(emu, "PATCH", f"/Jobs/{job_id}", {"CustomFields": {"budget_hours": 5}}))
    replaced = ok(emu, "PATCH", f"/Jobs/{job_id}", {"CustomFields": {"cost_center": "CC-8"}})
    assert replaced["CustomFields"] == {"cost_center": "CC-8"}  # a PATCH replaces the whole map


def test_undefined_custom_field_keys_and_wrong_values() -> None:
    emu = account("corporate")
    client = call(emu, "POST", "/Clients", {"Name": "A", "ShortName": "A", "CustomFields": {"Industry": "Retail"}})
    assert "CustomFields: 'Industry' is not a custom field defined for Clients (defined: industry)" in message(client)
    assert "'contract_type' must be one of Fixed fee, Time and materials, Retainer" in message(
        new_job(emu, CustomFields={"cost_center": "C", "contract_type": "Barter"}))
    assert "'budget_hours' must be a Number" in message(
        new_job(emu, CustomFields={"cost_center": "C", "budget_hours": "ten"}))
    assert "CustomFields needs custom fields configured for Tasks; this account has none" in message(
        call(emu, "POST", "/Tasks", {"Name": "T", "TaskCode": "T", "CustomFields": {"x": 1}}))
    assert ok(emu, "POST", "/Divisions", {"Name": "D", "CustomFields": {"region": "EMEA"}})["CustomFields"] == {
        "region": "EMEA"}


def test_custom_fields_need_definitions_for_the_kind() -> None:
    emu = account("new-account")
    answer = call(emu, "POST", "/Clients", {"Name": "A", "ShortName": "A", "CustomFields": {}})
    assert "CustomFields needs custom fields configured for Clients; this account has none" in message(answer)
    assert "CustomFields" not in ok(emu, "POST", "/Clients", {"Name": "A", "ShortName": "A"})
    bills = account("bills-by-job")
    assert ok(bills, "POST", "/Clients", {"Name": "A", "ShortName": "A", "CustomFields": {"industry": "Retail"}})[
        "CustomFields"] == {"industry": "Retail"}
    assert "CustomFields" not in ok(bills, "GET", "/Jobs/new")


def test_custom_field_definition_endpoints() -> None:
    emu = account("corporate")
    jobs = ok(emu, "GET", "/Jobs/CustomFieldDefinitions")
    assert [(d["DisplayName"], d["IsRequired"], d["EntityType"]) for d in jobs] == [
        ("Budget (hours)", False, "Job"), ("Contract type", False, "Job"), ("Cost center", True, "Job")]
    assert set(jobs[0]) == {"ID", "Name", "DisplayName", "DataType", "EntityType", "IsRequired", "PulldownValues"}
    assert ok(emu, "GET", f"/Jobs/CustomFieldDefinitions/{jobs[2]['ID']}")["Name"] == "cost_center"
    assert message(call(emu, "GET", f"/Clients/CustomFieldDefinitions/{jobs[2]['ID']}"), 404)
    assert ok(emu, "GET", "/Tasks/CustomFieldDefinitions") == []
    paged = call(emu, "GET", "/Jobs/CustomFieldDefinitions", None, ("limit", "2"), ("offset", "2"))
    assert paged.body["page"]["count"] == 3 and [d["Name"] for d in paged.body["data"]] == ["cost_center"]
    everything = ok(emu, "GET", "/CustomFieldDefinitions")
    assert sorted(d["EntityType"] for d in everything) == ["Client", "Division", "Job", "Job", "Job", "User"]
    assert [d["Name"] for d in ok(emu, "GET", "/CustomFieldDefinitions", None, ("IsRequired", "true"))] == [
        "cost_center"]
    assert [d["Name"] for d in ok(emu, "GET", "/CustomFieldDefinitions", None, ("EntityType", "Division"))] == [
        "region"]
    assert ok(emu, "GET", f"/CustomFieldDefinitions/{jobs[2]['ID']}")["Name"] == "cost_center"
    assert "Unknown query parameter(s): Name" in message(call(emu, "GET", "/Jobs/CustomFieldDefinitions", None,
                                                              ("Name", "x")))


# -- loading profile files -----------------------------------------------------------------------
MIRRORED = """
    # pasted from GET /Company and GET /Jobs/CustomFieldDefinitions of a real account
    description: Our account
    company:
      Name: Harbor Labs
      BillableSetting: Task
      JobRestrictionMethod: bydivision
      TaskRestrictionMethod: mytasks
      EnableProjectApprovals: false
      BillingRateModel: TASK_USER
      DateFormat: MM/dd/yyyy
      OptionalModules: {Enterprise: true, Resource Management: false}
    custom_fields:
      Jobs:
        - {ID: abc, Name: phase, DisplayName: Phase, DataType: Pulldown, EntityType: Job, IsRequired: true,
           PulldownValues: [Discovery, Delivery]}
      Users:
        - {name: shoe_size, data_type: Number}
    quirks:
      put_merges: true
    """


def write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_a_profile_file_mirrors_a_real_account(tmp_path: Path) -> None:
    profile = load_profile(str(write(tmp_path, MIRRORED)))
    assert (profile.name, profile.description, profile.optional_modules) == ("mine", "Our account", ("Enterprise",))
    emu = account(profile)
    company = ok(emu, "GET", "/Company")
    assert company["DateFormat"] == "MM/dd/yyyy" and company["OptionalModules"] == {"Enterprise": True}
    [phase] = ok(emu, "GET", "/Jobs/CustomFieldDefinitions")
    assert (phase["Name"], phase["DisplayName"], phase["IsRequired"]) == ("phase", "Phase", True)
    assert ok(emu, "GET", "/Users/CustomFieldDefinitions")[0]["DisplayName"] == "shoe_size"
    assert emu.quirks.put_merges is True and emu.quirks.reverse_reads_disagree is False
    assert "'phase'" in message(new_job(emu))
    assert ok(emu, "POST", "/Divisions", {"Name": "North"})["Name"] == "North"


def test_quirks_from_a_profile_reach_every_emulator_on_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "account.sqlite3")
    serving, resetting = Emulator.open(path), Emulator.open(path)
    assert serving.quirks.put_merges is False
    resetting.reset(load_profile(str(write(tmp_path, "company: {BillableSetting: Job, JobRestrictionMethod: byperson, "
                                                     "TaskRestrictionMethod: byjob, EnableProjectApprovals: true}\n"
                                                     "quirks: {reverse_reads_disagree: true}\n"))))
    job = new_job(serving).body["data"]
    task = ok(serving, "GET", "/Tasks")[0]["ID"]
    ok(serving, "POST", f"/Jobs/{job['ID']}/Tasks", {"TaskID": task})
    assert ok(serving, "GET", f"/Tasks/{task}/Jobs") == []  # the reset's quirk, seen by the other object
    assert serving.quirks.reverse_reads_disagree is True
    serving.close()
    resetting.close()


BAD = {
    "company: [1, 2]\n": "'company' must be a mapping",
    "company: {BillableSetting: Job}\n": "company: missing JobRestrictionMethod, TaskRestrictionMethod, "
                                         "EnableProjectApprovals",
    "company: {BillableSetting: Person, JobRestrictionMethod: none, TaskRestrictionMethod: null, "
    "EnableProjectApprovals: false}\n": "company: BillableSetting is 'Person'; expected one of Job, Task",
    "company: {BillableSetting: Job, JobRestrictionMethod: none, TaskRestrictionMethod: disabled, "
    "EnableProjectApprovals: false}\n": "TaskRestrictionMethod is 'disabled'; expected one of byjob, mytasks, null",
    "compnay: {}\n": "unknown key(s) compnay",
    "company: {BillableSetting: Job, JobRestrictionMethod: none, TaskRestrictionMethod: null, "
    "EnableProjectApprovals: false}\ncustom_fields: {Projects: []}\n": "custom_fields: unknown kind 'Projects'",
    "company: {BillableSetting: Job, JobRestrictionMethod: none, TaskRestrictionMethod: null, "
    "EnableProjectApprovals: false}\ncustom_fields: {Jobs: [{name: x, data_type: Pulldown}]}\n":
        "custom_fields.Jobs[0]: a Pulldown field needs pulldown_values",
    "company: {BillableSetting: Job, JobRestrictionMethod: none, TaskRestrictionMethod: null, "
    "EnableProjectApprovals: false}\ncustom_fields: {Jobs: [{name: x}, {name: x}]}\n":
        "custom_fields.Jobs: 'x' is defined twice",
    "company: {BillableSetting: Job, JobRestrictionMethod: none, TaskRestrictionMethod: null, "
    "EnableProjectApprovals: false}\ncustom_fields: {Jobs: [{name: x, data_type: Money}]}\n":
        "data_type 'Money' is not one of Text, Number, Date, Pulldown, Checkbox",
    "company: {BillableSetting: Job, JobRestrictionMethod: none, TaskRestrictionMethod: null, "
    "EnableProjectApprovals: false}\nquirks: {slow: true}\n": "quirks: unknown quirk(s) slow (known: "
                                                              "reverse_reads_disagree, put_merges)",
    "company: {BillableSetting: Job, JobRestrictionMethod: none, TaskRestrictionMethod: null, "
    "EnableProjectApprovals: false}\nquirks: {put_merges: yes please}\n": "quirks: put_merges must be true or false",
    "company: {BillableSetting: Job, JobRestrictionMethod: none, TaskRestrictionMethod: null, "
    "EnableProjectApprovals: false}\noptional_modules: Corporate\n": "optional_modules must be a list of module names",
    "- just a list\n": "a profile must be a mapping",
}


@pytest.mark.parametrize("text", list(BAD), ids=range(len(BAD)))
def test_invalid_profile_files_name_the_file_and_the_problem(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text, "broken.yaml")
    with pytest.raises(ReconcilerError) as info:
        load_profile(str(path))
    assert str(info.value).startswith(f"{path}: ")
    assert BAD[text] in str(info.value)


def test_unreadable_profiles(tmp_path: Path) -> None:
    path = write(tmp_path, "company:\n  Name: [unclosed\n", "syntax.yaml")
    with pytest.raises(ReconcilerError, match=re.escape(f"{path}:3:1: not valid YAML")):
        load_profile(str(path))
    with pytest.raises(ReconcilerError, match=re.escape("'nowhere.yaml': no such file; shipped profiles: new-account")):
        load_profile("nowhere.yaml")
    with pytest.raises(ReconcilerError, match=r"'enterprise': not a shipped profile; shipped profiles: .*corporate"):
        load_profile("enterprise")


# -- examples ------------------------------------------------------------------------------------
def example_profile(example: Path) -> str:
    first = (example / "reconciler.yaml").read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# Sandbox profile: (\S+)", first)
    assert match, f"{example.name}/reconciler.yaml must start with '# Sandbox profile: <name>'"
    return match.group(1)


@pytest.fixture
def sandbox_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "sandbox.sqlite3"
    monkeypatch.setenv("RECONCILER_SANDBOX", str(path))
    monkeypatch.delenv("RECONCILER_BACKEND", raising=False)
    yield path


@pytest.mark.parametrize("name", ["agency", "onboarding"])
def test_examples_apply_cleanly_on_their_profile(name: str, sandbox_file: Path) -> None:
    example = EXAMPLES / name
    profile = example_profile(example)
    assert profile in PROFILES
    emulator = Emulator.open(str(sandbox_file))
    emulator.reset(load_profile(profile))
    emulator.close()
    applied = run("apply", example, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert run("plan", example, "--detailed-exitcode").exit_code == 0


def test_agency_declares_no_administrator_and_no_task_billability() -> None:
    documents = [yaml.safe_load(p.read_text()) for p in (EXAMPLES / "agency").rglob("*.yaml")]
    users = {email: u for d in documents for email, u in (d.get("users") or {}).items()}
    tasks = {code: t for d in documents for code, t in (d.get("tasks") or {}).items()}
    assert users and all(u.get("security_level") != "admin" for u in users.values())
    assert tasks and all("billable" not in t for t in tasks.values())
