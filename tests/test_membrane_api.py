"""The membrane-api backend: ClickTime through Membrane's proxy endpoint, against the fake API server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import plan_and_import, run
from fakes import connection
from fakes.membrane_api_server import FakeMembraneApi

from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.membrane.api import mint_token
from reconciler.sandbox.emulator import Emulator

TOKEN = "mbr-s3cr3t-token-value"
WORKSPACE_KEY, WORKSPACE_SECRET, TENANT = "ws-key-1", "ws-secret-value-1", "tenant-acme"
CONN = "con_clicktime_1"
MEMBRANE_VARS = ("MEMBRANE_BIN", "MEMBRANE_CONNECTION_ID", "MEMBRANE_TOKEN", "MEMBRANE_TOKEN_FILE", "MEMBRANE_API_URL",
                 "MEMBRANE_API_URI", "MEMBRANE_WORKSPACE_KEY", "MEMBRANE_WORKSPACE_SECRET", "MEMBRANE_TENANT_KEY",
                 "MEMBRANE_CLICKTIME_PATH_PREFIX", "MEMBRANE_RECORD_DIR")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMembraneApi]:
    srv = FakeMembraneApi(Emulator.open(str(tmp_path / "account.sqlite3")), token=TOKEN,
                          workspace_key=WORKSPACE_KEY, workspace_secret=WORKSPACE_SECRET).start()
    for name in MEMBRANE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RECONCILER_BACKEND", "membrane-api")
    monkeypatch.setenv("RECONCILER_SANDBOX", str(tmp_path / "not-used.sqlite3"))
    monkeypatch.setenv("MEMBRANE_API_URL", srv.url)
    monkeypatch.setenv("MEMBRANE_TOKEN", TOKEN)
    monkeypatch.setenv("NO_COLOR", "1")
    yield srv
    srv.stop()
    srv.emulator.close()


def reported_calls(stderr: str) -> int:
    line = next(line for line in stderr.splitlines() if "API call(s)" in line)
    return int(line.strip("(").split()[0])


def clients(server: FakeMembraneApi) -> list[str]:
    from reconciler.clicktime.transport import Request

    body = server.emulator.handle(Request("GET", "/Clients", (("IsActive", "true"), ("IsActive", "false")))).body
    return sorted(c["ShortName"] for c in body["data"])


def test_plan_apply_plan_through_the_proxy(server: FakeMembraneApi, basic_config: Path) -> None:
    applied = run("apply", basic_config, "--yes")
    assert applied.exit_code == 0, applied.stderr
    server.log.clear()
    plan = run("plan", basic_config, "--detailed-exitcode")
    assert plan.exit_code == 0, plan.stderr
    assert [e["path"] for e in server.log][0] == "/connections"
    assert all(e["path"].startswith(f"/connections/{CONN}/proxy/") for e in server.log[1:])
    assert all(e["api_version"] == MA.API_VERSION and e["claims"] == {} for e in server.log)
    for active in ("true", "false"):
        assert ("GET", "/Clients", [("IsActive", active), ("limit", "1000"), ("offset", "0")]) in server.proxied()
    assert reported_calls(plan.stderr) == len(server.log)
    assert TOKEN not in applied.stdout + applied.stderr + plan.stdout + plan.stderr


def test_same_results_as_the_sandbox_backend(server: FakeMembraneApi, basic_config: Path, tmp_path: Path,
                                             monkeypatch) -> None:
    monkeypatch.setenv("RECONCILER_SANDBOX", str(tmp_path / "sandbox-twin.sqlite3"))
    assert (plan_and_import(basic_config, tmp_path / "import-membrane-api", "membrane-api")
            == plan_and_import(basic_config, tmp_path / "import-sandbox", "sandbox"))


def test_workspace_key_and_secret_mint_the_token(server: FakeMembraneApi, basic_config: Path, monkeypatch) -> None:
    monkeypatch.delenv("MEMBRANE_TOKEN")
    monkeypatch.setenv("MEMBRANE_WORKSPACE_KEY", WORKSPACE_KEY)
    monkeypatch.setenv("MEMBRANE_WORKSPACE_SECRET", WORKSPACE_SECRET)
    monkeypatch.setenv("MEMBRANE_TENANT_KEY", TENANT)
    result = run("plan", basic_config, "--connection", CONN)
    assert result.exit_code == 0, result.stderr
    claims = {json.dumps(e["claims"], sort_keys=True) for e in server.log}
    assert len(claims) == 1  # one token for the whole run
    claim = json.loads(claims.pop())
    assert claim["workspaceKey"] == claim["iss"] == WORKSPACE_KEY
    assert claim["tenantKey"] == claim["id"] == TENANT
    assert WORKSPACE_SECRET not in result.stdout + result.stderr


def test_minted_token_is_an_hs256_jwt() -> None:
    token = mint_token("wk", "secret", "tk", now=1_000_000)
    head, body, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(head))) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(base64.urlsafe_b64decode(pad(body))) == {
        "workspaceKey": "wk", "iss": "wk", "tenantKey": "tk", "id": "tk", "exp": 1_003_600}
    expected = hmac.new(b"secret", f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(pad(signature)) == expected


def test_token_file(server: FakeMembraneApi, basic_config: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MEMBRANE_TOKEN")
    (tmp_path / "token").write_text(TOKEN + "\n")
    monkeypatch.setenv("MEMBRANE_TOKEN_FILE", str(tmp_path / "token"))
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 2


def test_missing_credentials_say_what_to_set(server: FakeMembraneApi, basic_config: Path, monkeypatch) -> None:
    monkeypatch.delenv("MEMBRANE_TOKEN")
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert "needs Membrane credentials" in result.stderr and "MEMBRANE_WORKSPACE_KEY" in result.stderr
    assert server.log == []


def test_rejected_token_is_one_clear_line_and_never_shown(server: FakeMembraneApi, basic_config: Path,
                                                          monkeypatch) -> None:
    monkeypatch.setenv("MEMBRANE_TOKEN", "wrong-" + TOKEN)
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Membrane rejected MEMBRANE_TOKEN (HTTP 401")
    assert TOKEN not in result.stdout + result.stderr


def test_wrong_api_url(server: FakeMembraneApi, basic_config: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEMBRANE_API_URL", server.url + "/v2")
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert "does not answer like Membrane's API" in result.stderr


@pytest.mark.parametrize("limit", [
    pytest.param({"status": 429, "headers": {"Retry-After": "0"}, "body": {"errors": [{"Message": "Slow down"}]}},
                 id="clicktime-429"),
    pytest.param({"status": 429, "body": {"type": "bad_request", "key": "rate_limit_exceeded", "message": "limit"}},
                 id="membrane-429"),
])
def test_rate_limits_are_retried(server: FakeMembraneApi, basic_config: Path, limit: dict) -> None:
    server.add_fault(method="GET", path="/Users", times=2, **limit)
    result = run("plan", basic_config)
    assert result.exit_code == 0, result.stderr
    assert [p for _, p, _ in server.proxied()].count("/Users") == 2 + 2  # active and inactive, 2 retries
    assert "2 retried" in result.stderr


@pytest.mark.parametrize("lost", [
    pytest.param({"status": 502, "body": None}, id="bad-gateway"),
    pytest.param({"status": 500, "body": {"type": "internal", "message": "Internal error"}}, id="membrane-500"),
])
def test_a_create_whose_outcome_is_unknown_is_never_repeated_blindly(server: FakeMembraneApi, basic_config: Path,
                                                                     lost: dict) -> None:
    server.add_fault(method="POST", path="/Clients", forward_first=True, **lost)
    result = run("apply", basic_config, "--yes")
    assert result.exit_code == 0, result.stderr
    assert [(m, p) for m, p, _ in server.proxied()].count(("POST", "/Clients")) == 2
    assert clients(server) == ["ACME", "GLOBEX"]


def test_disconnected_connection_and_clicktime_401_say_reconnect(server: FakeMembraneApi, basic_config: Path,
                                                                 monkeypatch) -> None:
    server.add_fault(method="GET", path="/Me", status=401, body={"errors": [{"Message": "Invalid token"}]})
    rejected = run("plan", basic_config)
    assert rejected.exit_code == 1
    assert f"reconnect it: `membrane connect --connectionId {CONN}`" in rejected.stderr
    server.connections[0]["disconnected"] = True
    monkeypatch.setenv("MEMBRANE_CONNECTION_ID", CONN)
    defunct = run("plan", basic_config)
    assert defunct.exit_code == 1
    assert "needs re-authentication" in defunct.stderr and "membrane connect --connectionId" in defunct.stderr


def test_lookup_lists_candidates(server: FakeMembraneApi, basic_config: Path) -> None:
    server.connections[:] = [connection("con_a"), connection("con_b")]
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert "2 ClickTime connections are ready" in result.stderr and "con_a" in result.stderr


def test_doctor_all_good(server: FakeMembraneApi, tmp_path: Path) -> None:
    result = run("doctor", tmp_path)
    assert result.exit_code == 0, result.stdout
    for line in ("[ok  ] Membrane credentials: MEMBRANE_TOKEN",
                 f"[ok  ] Membrane API: {server.url}: 1 connection(s) visible",
                 f"[ok  ] ClickTime connection: {CONN} (ClickTime): ready",
                 "[ok  ] repeated query parameters",
                 "[ok  ] token user (GET /Me): Sandbox Admin <admin@sandbox.example>, security level ADMIN"):
        assert line in result.stdout, result.stdout


@pytest.mark.parametrize(("arrange", "failed", "fix"), [
    ({"MEMBRANE_TOKEN": None}, "Membrane credentials", "MEMBRANE_TOKEN"),
    ({"MEMBRANE_TOKEN": "nope"}, "Membrane login", "MEMBRANE_WORKSPACE_KEY"),
    ({"disconnected": True}, "ClickTime connection", "membrane connect --connectionId"),
])
def test_doctor_failures(server: FakeMembraneApi, tmp_path: Path, monkeypatch, arrange: dict, failed: str,
                         fix: str) -> None:
    if "MEMBRANE_TOKEN" in arrange:
        if arrange["MEMBRANE_TOKEN"] is None:
            monkeypatch.delenv("MEMBRANE_TOKEN")
        else:
            monkeypatch.setenv("MEMBRANE_TOKEN", arrange["MEMBRANE_TOKEN"])
    if arrange.get("disconnected"):
        server.connections[0]["disconnected"] = True
    result = run("doctor", tmp_path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    failing = [i for i, line in enumerate(lines) if line.startswith("[FAIL]")]
    assert len(failing) == 1 and lines[failing[0]].startswith(f"[FAIL] {failed}:"), result.stdout
    assert lines[failing[0] + 1].strip().startswith("fix:") and fix in lines[failing[0] + 1], result.stdout
    assert "nope" not in result.stdout
