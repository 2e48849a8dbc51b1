"""The membrane backend: ClickTime through `membrane request`, against the fake CLI in tests/fakes.

The fake is first on PATH, parses argv like the real CLI, forwards requests to the emulator's
account file and logs every invocation, so these tests assert exact argv and call counts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import plan_and_import, run, write_config
from fakes import FAKE_CLI, FakeMembrane, connection

from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.membrane.cli import CliRunner
from reconciler.clicktime.membrane.errors import ErrorContext, MembraneLoginError, MembraneReauthError, NotMembraneCli
from reconciler.clicktime.membrane.protocol import MISSING, CliResult, find_json, interpret_request, membrane_error
from reconciler.secrets import scrub
from reconciler.clicktime.transport import TransportError
from reconciler.sandbox.emulator import Emulator

CONN = "con_clicktime_1"
MEMBRANE_VARS = ("MEMBRANE_BIN", "MEMBRANE_CONNECTION_ID", "MEMBRANE_TOKEN", "MEMBRANE_TOKEN_FILE", "MEMBRANE_API_URL",
                 "MEMBRANE_API_URI", "MEMBRANE_WORKSPACE_KEY", "MEMBRANE_WORKSPACE_SECRET", "MEMBRANE_TENANT_KEY",
                 "MEMBRANE_CLICKTIME_PATH_PREFIX", "MEMBRANE_RECORD_DIR")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMembrane]:
    with FakeMembrane(tmp_path / "membrane", tmp_path / "account.sqlite3") as fake:
        for name in MEMBRANE_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RECONCILER_BACKEND", "membrane")
        monkeypatch.setenv("RECONCILER_SANDBOX", str(tmp_path / "not-used.sqlite3"))
        monkeypatch.setenv("NO_COLOR", "1")
        monkeypatch.chdir(tmp_path)
        yield fake


@pytest.fixture
def account(fake: FakeMembrane) -> Iterator[Emulator]:
    """The ClickTime account behind the fake connection, for arranging and inspecting."""
    emulator = Emulator.open(str(fake.sandbox))
    yield emulator
    emulator.close()


def reported_calls(stderr: str) -> int:
    line = next(line for line in stderr.splitlines() if "API call(s)" in line)
    return int(line.strip("(").split()[0])


def clients(account: Emulator) -> list[dict]:
    from reconciler.clicktime.client import ClickTimeClient
    from reconciler.sandbox.transport import SandboxTransport

    class _Keep(SandboxTransport):
        def close(self) -> None:
            pass

    return ClickTimeClient(_Keep(account)).list_all("Clients")


# -- argv, calls, statistics --------------------------------------------------------------------
def test_plan_sends_exact_argv_and_reports_every_call(fake: FakeMembrane, basic_config: Path) -> None:
    result = run("plan", basic_config, "--detailed-exitcode")
    assert result.exit_code == 2, result.stderr
    argvs = fake.argvs()
    assert argvs[0] == ["connection", "list", "--json"]
    for active in ("true", "false"):  # one read each: a repeated --query key does not survive Membrane
        assert ["request", CONN, "/Clients", "-X", "GET", "--query", f"IsActive={active}",
                "--query", "limit=1000", "--query", "offset=0", "--json"] in argvs
    assert ["request", CONN, "/Me", "-X", "GET", "--json"] in argvs
    # one process per request, no request twice, and the statistics count them all (lookup included)
    requests = [tuple(a) for a in argvs if a[0] == "request"]
    assert len(requests) == len(set(requests)) == len(argvs) - 1
    assert reported_calls(result.stderr) == len(argvs)
    assert all(call["exit"] == 0 for call in fake.calls())
    assert all(call["env"].get("NO_COLOR") == "1" for call in fake.calls())


def test_configured_connection_skips_the_lookup(fake: FakeMembrane, basic_config: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEMBRANE_CONNECTION_ID", CONN)
    result = run("plan", basic_config)
    assert result.exit_code == 0, result.stderr
    assert all(argv[0] == "request" for argv in fake.argvs())
    assert reported_calls(result.stderr) == len(fake.argvs())


def test_writes_pass_compact_json_bodies(fake: FakeMembrane, basic_config: Path) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    posts = [a for a in fake.argvs() if a[:1] == ["request"] and a[a.index("-X") + 1] == "POST"]
    acme = next(a for a in posts if a[2] == "/Clients" and '"ACME"' in a[a.index("-d") + 1])
    assert acme[-1] == "--json" and acme[acme.index("-d") - 2:acme.index("-d")] == ["-X", "POST"]
    assert json.loads(acme[acme.index("-d") + 1]) == {"Name": "Acme Corporation", "ShortName": "ACME",
                                                       "ClientNumber": "C-1001"}


HOSTILE = 'Q "d" \'s\' $(touch PWNED) `touch PWNED2`; rm -rf x | cat > y'


def test_hostile_names_arrive_intact_and_nothing_runs(fake: FakeMembrane, tmp_path: Path, account: Emulator) -> None:
    config = write_config(tmp_path / "hostile", {"clients.yaml": f"""
        clients:
          EVIL:
            name: {json.dumps(HOSTILE[:50])}
            notes: "first line\\nsecond line $(id) \\"quoted\\""
        """})
    result = run("apply", config, "--yes")
    assert result.exit_code == 0, result.stderr
    evil = next(c for c in clients(account) if c["ShortName"] == "EVIL")
    assert evil["Name"] == HOSTILE[:50]
    assert evil["Notes"] == 'first line\nsecond line $(id) "quoted"'
    assert not list(tmp_path.glob("PWNED*")) and not (tmp_path / "y").exists()
    assert run("plan", config, "--detailed-exitcode").exit_code == 0


def test_same_results_as_the_sandbox_backend(fake: FakeMembrane, basic_config: Path, tmp_path: Path,
                                             monkeypatch) -> None:
    monkeypatch.setenv("RECONCILER_SANDBOX", str(tmp_path / "sandbox-twin.sqlite3"))
    assert (plan_and_import(basic_config, tmp_path / "import-membrane", "membrane")
            == plan_and_import(basic_config, tmp_path / "import-sandbox", "sandbox"))


# -- output shapes --------------------------------------------------------------------------------
SHAPES = [
    pytest.param({"request": "bare", "errors": "stderr", "pretty": True}, None, id="bare-pretty-stderr"),
    pytest.param({"request": "bare", "errors": "stdout", "pretty": False}, None, id="bare-compact-stdout"),
    pytest.param({"request": "wrapped"}, None, id="wrapped"),
    pytest.param({"request": "output", "connections": "list"}, None, id="output-and-bare-list"),
    pytest.param({"request": "bare"}, "\x1b[33mUpdate available: 1.18.0 -> 1.19.0\x1b[0m", id="banner"),
    pytest.param({"request": "wrapped", "connections": "list"}, "[membrane] using tenant acme", id="banner-bracket"),
]


@pytest.mark.parametrize(("shape", "banner"), SHAPES)
def test_every_plausible_output_shape(fake: FakeMembrane, basic_config: Path, shape: dict, banner: str | None) -> None:
    fake.set(shape=shape, banner=banner)
    fake.add_fault(method="POST", path="/Clients", http={"status": 400, "body": {
        "data": None, "errors": [{"Field": "Name", "Message": "Injected refusal"}]}})
    refused = run("apply", basic_config, "--yes")
    assert refused.exit_code == 1
    assert "Injected refusal" in refused.stderr
    applied = run("apply", basic_config, "--yes")
    assert applied.exit_code == 0, applied.stderr
    plan = run("plan", basic_config, "--detailed-exitcode")
    assert plan.exit_code == 0, plan.stderr
    assert "No changes" in plan.stdout


# -- retries and unknown outcomes -------------------------------------------------------------------
def test_clicktime_429_through_membrane_is_retried(fake: FakeMembrane, basic_config: Path) -> None:
    fake.add_fault(method="GET", path="/Clients", times=2, http={
        "status": 429, "headers": {"Retry-After": "0"}, "body": {"errors": [{"Message": "Too many requests"}]}})
    result = run("plan", basic_config)
    assert result.exit_code == 0, result.stderr
    assert [p for _, p, _ in fake.requests()].count("/Clients") == 2 + 2  # active and inactive, 2 retries
    assert "2 retried" in result.stderr


def test_membrane_rate_limit_error_is_retried(fake: FakeMembrane, basic_config: Path) -> None:
    fake.add_fault(method="GET", path="/Tasks", error={"type": "bad_request", "key": "rate_limit_exceeded",
                                                       "message": "Too many requests"})
    result = run("plan", basic_config)
    assert result.exit_code == 0, result.stderr
    assert [p for _, p, _ in fake.requests()].count("/Tasks") == 2 + 1  # active and inactive, 1 retry


@pytest.mark.parametrize("failure", [
    pytest.param({"raw": {"stderr": "Error: socket hang up\n", "exit": 1}}, id="crash-after-sending"),
    pytest.param({"error": {"type": "internal", "message": "Internal error"}}, id="membrane-internal-error"),
    pytest.param({"http": {"status": 502, "body": "<html>Bad gateway</html>"}}, id="bad-gateway"),
    pytest.param({"raw": {"stdout": "", "exit": 0}}, id="empty-output"),
])
def test_a_create_whose_outcome_is_unknown_is_never_repeated_blindly(
        fake: FakeMembrane, basic_config: Path, account: Emulator, failure: dict) -> None:
    fake.add_fault(method="POST", path="/Clients", forward_first=True, **failure)  # applied, answer lost
    result = run("apply", basic_config, "--yes")
    assert result.exit_code == 0, result.stderr
    posts = [q for m, p, q in fake.requests() if (m, p) == ("POST", "/Clients")]
    assert len(posts) == 2  # ACME and GLOBEX once each
    lookups = [q for m, p, q in fake.requests() if (m, p) == ("GET", "/Clients") and any(
        x.startswith("ShortName=") for x in q)]
    assert len(lookups) == 2  # one look-up, of active and of inactive clients
    assert sorted(c["ShortName"] for c in clients(account)) == ["ACME", "GLOBEX"]


def test_unreadable_answer_to_a_read_is_retried(fake: FakeMembrane, basic_config: Path) -> None:
    fake.add_fault(method="GET", path="/Company", raw={"stdout": "Segmentation fault\n", "exit": 0})
    result = run("plan", basic_config)
    assert result.exit_code == 0, result.stderr
    assert [p for _, p, _ in fake.requests()].count("/Company") == 2


def test_bounded_concurrency(fake: FakeMembrane, basic_config: Path) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    fake.set(delay=0.15)
    for limit in (1, 3):
        fake.clear_log()
        assert run("plan", basic_config, "--concurrency", str(limit)).exit_code == 0
        spans = [(c["start"], c["end"]) for c in fake.calls()]
        overlap = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
        assert overlap <= limit
    assert overlap > 1  # with 3 allowed, calls do run side by side


# -- connections, login, binary -----------------------------------------------------------------------
def test_not_logged_in_says_how_to_log_in(fake: FakeMembrane, basic_config: Path) -> None:
    fake.set(logged_in=False)
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert "not logged in" in result.stderr and "membrane login --tenant" in result.stderr


def test_disconnected_connection_says_how_to_reconnect(fake: FakeMembrane, basic_config: Path, monkeypatch) -> None:
    fake.set(connections=[connection(disconnected=True, state="CLIENT_ACTION_REQUIRED")])
    looked_up = run("plan", basic_config)
    assert looked_up.exit_code == 1
    assert "no ClickTime connection is ready" in looked_up.stderr
    assert f"membrane connect --connectionId {CONN}" in looked_up.stderr
    monkeypatch.setenv("MEMBRANE_CONNECTION_ID", CONN)
    direct = run("plan", basic_config)
    assert direct.exit_code == 1
    assert "needs re-authentication" in direct.stderr
    assert f"membrane connect --connectionId {CONN}" in direct.stderr
    assert len([a for a in fake.argvs() if a[0] == "request"]) <= 6  # not retried


def test_clicktime_401_says_reconnect(fake: FakeMembrane, basic_config: Path) -> None:
    fake.add_fault(method="GET", path="/Me", http={"status": 401, "body": {"errors": [
        {"Message": "Invalid authentication token"}]}})
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert "ClickTime rejected the credentials of Membrane connection" in result.stderr
    assert "CLICKTIME_TOKEN" not in result.stderr


def test_unknown_connection(fake: FakeMembrane, basic_config: Path) -> None:
    result = run("plan", basic_config, "--connection", "con_nope")
    assert result.exit_code == 1
    assert "Membrane has no connection 'con_nope'" in result.stderr


def test_lookup_errors_list_the_candidates(fake: FakeMembrane, basic_config: Path) -> None:
    fake.set(connections=[connection("con_a", "ClickTime EU"), connection("con_b", "ClickTime US"),
                          connection("con_hs", "HubSpot", integration="hubspot")])
    two = run("plan", basic_config)
    assert two.exit_code == 1
    assert "2 ClickTime connections are ready" in two.stderr
    assert "con_a (ClickTime EU): ready" in two.stderr and "con_b (ClickTime US): ready" in two.stderr
    assert "--connection ID" in two.stderr and "con_hs" not in two.stderr
    fake.set(connections=[connection("con_hs", "HubSpot", integration="hubspot")])
    none = run("plan", basic_config)
    assert none.exit_code == 1
    assert "Membrane has no ClickTime connection" in none.stderr and "membrane connect" in none.stderr
    fake.set(connections=[connection("con_a", disconnected=True), connection("con_b")])
    assert run("plan", basic_config).exit_code == 0
    assert {a[1] for a in fake.argvs() if a[0] == "request"} == {"con_b"}


def test_connection_precedence_flag_env_settings(fake: FakeMembrane, basic_config: Path, monkeypatch) -> None:
    fake.set(connections=[connection("con_flag"), connection("con_env"), connection("con_settings")])
    (basic_config / "reconciler.yaml").write_text("membrane:\n  connection: con_settings\n")

    def used(*args: str) -> set[str]:
        fake.clear_log()
        result = run("plan", basic_config, *args)
        assert result.exit_code == 0, result.stderr
        return {a[1] for a in fake.argvs() if a[0] == "request"}

    assert used() == {"con_settings"}
    monkeypatch.setenv("MEMBRANE_CONNECTION_ID", "con_env")
    assert used() == {"con_env"}
    assert used("--connection", "con_flag") == {"con_flag"}


def test_membrane_bin_and_missing_binary(fake: FakeMembrane, basic_config: Path, monkeypatch,
                                        tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join([str(fake.python_dir), "/usr/bin", "/bin"]))
    missing = run("plan", basic_config)
    assert missing.exit_code == 1
    assert "`membrane` is not on PATH" in missing.stderr
    assert f"npm install -g {MA.CLI_PACKAGE}@{MA.PINNED_CLI_VERSION}" in missing.stderr
    assert "membrane login --tenant" in missing.stderr
    monkeypatch.setenv("MEMBRANE_BIN", str(tmp_path / "nowhere" / "membrane"))
    assert "MEMBRANE_BIN names" in run("plan", basic_config).stderr
    monkeypatch.setenv("MEMBRANE_BIN", str(FAKE_CLI))
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 2


def test_record_mode_keeps_scrubbed_transcripts(fake: FakeMembrane, basic_config: Path, monkeypatch,
                                               tmp_path: Path) -> None:
    fake.set(banner="session eyJhbGciOiJIUzI1NiJ9.eyJpZCI6InQxIn0.c2lnbmF0dXJl")
    monkeypatch.setenv("MEMBRANE_RECORD_DIR", str(tmp_path / "recorded"))
    assert run("plan", basic_config).exit_code == 0
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "recorded").iterdir())]
    assert len(records) == len(fake.calls())
    assert {r["argv"][1] for r in records} == {"connection", "request"}
    assert all("eyJ" not in r["stdout"] and "<jwt>" in r["stdout"] for r in records)


# -- doctor ---------------------------------------------------------------------------------------
def test_doctor_all_good(fake: FakeMembrane, tmp_path: Path) -> None:
    result = run("doctor", tmp_path)
    assert result.exit_code == 0, result.stdout
    for line in ("[ok  ] backend: membrane", f"[ok  ] membrane CLI: {FAKE_CLI}", "[ok  ] membrane CLI version: 1.18.0",
                 "[ok  ] membrane login: logged in; 1 connection(s) visible",
                 f"[ok  ] ClickTime connection: {CONN} (ClickTime): ready",
                 "[ok  ] repeated query parameters: tasks: 9 active + 0 inactive, 9 with both filters",
                 "[ok  ] token user (GET /Me): Sandbox Admin <admin@sandbox.example>, security level ADMIN",
                 "[ok  ] account profile: list controls: job tasks on"):
        assert line in result.stdout, result.stdout


def _inactive_task(account: Emulator) -> None:
    from reconciler.clicktime.transport import Request

    task = account.handle(Request("GET", "/Tasks", (("TaskCode", "ADMIN"),))).body["data"][0]
    assert account.handle(Request("PATCH", f"/Tasks/{task['ID']}", body={"IsActive": False})).status == 200


def _manager_connection(account: Emulator) -> dict:
    from reconciler.clicktime.transport import Request

    body = {"Name": "Jane Doe", "Email": "jane@example.com", "SecurityLevel": "MANAGER"}
    assert account.handle(Request("POST", "/Users", body=body)).status in (200, 201)
    return {"connections": [connection(user="jane@example.com")]}


@pytest.mark.parametrize(("arrange", "failed", "fix"), [
    ({"version_output": "membrane-agency 0.3 (e-commerce toolkit)\n"}, "membrane CLI version",
     f"npm install -g {MA.CLI_PACKAGE}"),
    ({"version_output": "1.1.12\n"}, "membrane CLI version", f"@{MA.PINNED_CLI_VERSION}"),
    ({"logged_in": False}, "membrane login", "membrane login --tenant"),
    ({"connections": [connection(disconnected=True)]}, "ClickTime connection",
     f"membrane connect --connectionId {CONN}"),
    ({"connections": []}, "ClickTime connection", "membrane connect --connectorKey clicktime"),
    (_manager_connection, "token user (GET /Me)", "Administrator"),
])
def test_doctor_says_what_is_wrong_and_how_to_fix_it(fake: FakeMembrane, tmp_path: Path, account: Emulator,
                                                   arrange, failed: str, fix: str) -> None:
    _inactive_task(account)
    fake.set(**(arrange(account) if callable(arrange) else arrange))
    result = run("doctor", tmp_path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    failing = [i for i, line in enumerate(lines) if line.startswith("[FAIL]")]
    assert len(failing) == 1 and lines[failing[0]].startswith(f"[FAIL] {failed}:"), result.stdout
    assert lines[failing[0] + 1].strip().startswith("fix:") and fix in lines[failing[0] + 1], result.stdout


# -- parsing, unit level ------------------------------------------------------------------------------
CTX = ErrorContext("con_x")


def result(stdout: str = "", stderr: str = "", code: int = 0) -> CliResult:
    return CliResult(("request", "con_x", "/Jobs"), code, stdout, stderr)


@pytest.mark.parametrize(("text", "value"), [
    ('{"data": []}', {"data": []}),
    ('  [1, 2]\n', [1, 2]),
    ('Update available!\n{\n  "data": {"ID": "1"}\n}\n', {"data": {"ID": "1"}}),
    ('[membrane] tenant acme\n[1]\n', [1]),
    ('{"data": 1}\nnote: cached token refreshed\n', {"data": 1}),
    ('', MISSING),
    ('nothing here', MISSING),
])
def test_find_json(text: str, value) -> None:
    assert find_json(text) == value


def test_interpret_the_shapes_of_success() -> None:
    body = {"data": [{"ID": "1"}], "page": {"count": 1}}
    for printed in (body, {"status": 200, "headers": {}, "data": body}, {"output": body},
                    {"output": {"statusCode": 200, "body": body}}):
        answer = interpret_request(result(json.dumps(printed)), "GET", CTX)
        assert (answer.status, answer.body) == (200, body)
    assert interpret_request(result(""), "DELETE", CTX).status == 204
    with pytest.raises(TransportError) as lost:
        interpret_request(result(""), "POST", CTX)
    assert lost.value.sent


def test_interpret_the_shapes_of_failure() -> None:
    clicktime = {"data": None, "errors": [{"Message": "No such job"}]}
    http_error = {"type": "dependency_error", "message": "Request failed with status code 404",
                  "data": {"response": {"status": 404, "data": clicktime, "headers": {"x": "1"}}}}
    for out, err in ((json.dumps(http_error), ""), ("", json.dumps(http_error)),
                     ("", "Error:\n" + json.dumps({"error": http_error}))):
        answer = interpret_request(result(out, err, 1), "GET", CTX)
        assert (answer.status, answer.body) == (404, clicktime)
    limited = interpret_request(result("", json.dumps({"type": "connection", "key": "rate_limit_exceeded",
                                                       "message": "slow down"}), 1), "GET", CTX)
    assert limited.status == 429
    retry_after = {**http_error, "data": {"response": {"status": 429, "data": clicktime,
                                                       "headers": {"Retry-After": "3"}}}}
    assert interpret_request(result("", json.dumps(retry_after), 1), "GET", CTX).headers == {"Retry-After": "3"}
    assert interpret_request(result(json.dumps({"type": "internal", "message": "boom"}), "", 1), "POST",
                             CTX).status == 500
    with pytest.raises(MembraneReauthError, match="membrane connect --connectionId con_x"):
        interpret_request(result("", json.dumps(MA.DISCONNECTED_ERROR), 1), "GET", CTX)
    with pytest.raises(MembraneReauthError):
        interpret_request(result(json.dumps({"code": "CONNECTION_DISCONNECTED", "message": "gone"}), "", 1), "GET", CTX)
    with pytest.raises(MembraneLoginError, match="membrane login --tenant"):
        interpret_request(result("", "You are not logged in. Open https://console.getmembrane.com/...", 1), "GET", CTX)
    with pytest.raises(NotMembraneCli):
        interpret_request(result("", "error: unknown command 'request'", 1), "GET", CTX)
    with pytest.raises(TransportError) as crashed:
        interpret_request(result("", "Segmentation fault", 139), "POST", CTX)
    assert crashed.value.sent
    # a ClickTime error body printed with a non-zero exit and no status
    assert interpret_request(result(json.dumps(clicktime), "", 1), "GET", CTX).status == 400


def test_membrane_error_recognises_wrappers_but_not_clicktime_bodies() -> None:
    assert membrane_error({"type": "bad_request", "message": "x"})["type"] == "bad_request"
    assert membrane_error({"error": {"type": "internal", "message": "y"}})["message"] == "y"
    assert membrane_error({"error": "not_found", "message": "z"})["message"] == "z"
    assert membrane_error({"data": {"type": "x", "message": "a job named type"}}) is None
    assert membrane_error({"data": None, "errors": [{"Message": "m"}]}) is None
    assert membrane_error([1]) is None


def test_runner_kills_a_hung_process_and_reports_it_as_sent(tmp_path: Path) -> None:
    runner = CliRunner([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.3)
    with pytest.raises(TransportError) as hung:
        runner.run(["request"])
    assert hung.value.sent and "within 0.3 s" in str(hung.value)


def test_scrub_hides_tokens() -> None:
    text = scrub('{"accessToken": "abc", "x": "Bearer abcdefghijkl", "jwt": "eyJa.eyJb.sig"}')
    assert "abc\"" not in text and "abcdefghijkl" not in text and "eyJa" not in text


def test_every_assumption_has_a_reason_and_a_confidence() -> None:
    assert len(MA.ASSUMPTIONS) >= 40
    for item in MA.ASSUMPTIONS.values():
        assert item.confidence in ("C", "I", "?") and len(item.reason) > 20, item.name
