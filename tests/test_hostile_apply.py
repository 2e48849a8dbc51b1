"""A hostile world for reading and applying: hand-edited plans, foreign journals, servers that
drip, vanish, answer nonsense or apply writes late without uniqueness rules, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import run, write_config

from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.server import EmulatorServer, Knobs

COMPANY = {"JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob", "BillableSetting": "Job",
           "EnableProjectApprovals": True, "OptionalModules": {}}
ME = {"ID": "me", "Name": "Owner", "Email": "owner@example.com", "SecurityLevel": "ADMIN"}


# -- a small ClickTime-shaped server whose behaviour each test writes ------------------------------
class Hostile(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Callable[[str, str, dict[str, str], Any], tuple[int, Any, dict[str, str]]]) -> None:
        self.answer = answer
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v2"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        try:
            status, answer, headers = self.server.answer(self.command, parts.path.removeprefix("/v2"),  # type: ignore[attr-defined]
                                                         dict(parse_qsl(parts.query)), body)
        except ConnectionError:
            return
        if status == 0:  # the answer drips: one byte at a time
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.25)
            return
        data = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


def use(server: Hostile, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_BACKEND", "clicktime")
    monkeypatch.setenv("CLICKTIME_API_URL", server.url)
    monkeypatch.setenv("CLICKTIME_TOKEN", "hostile-token-123")
    monkeypatch.setenv("NO_COLOR", "1")


def page(records: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
    return {"data": records[offset:offset + limit], "page": {"offset": offset, "limit": limit, "count": len(records)}}


def basic_answers(lists: dict[str, list[dict[str, Any]]]) -> Callable[..., tuple[int, Any, dict[str, str]]]:
    def answer(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if path == "/Company":
            return 200, {"data": COMPANY}, {}
        if path == "/Me":
            return 200, {"data": ME}, {}
        if path.endswith("/CustomFieldDefinitions"):
            return 200, page([], query), {}
        active = query.get("IsActive") != "false"
        records = [r for r in lists.get(path.strip("/"), []) if r.get("IsActive", True) == active]
        return 200, page(records, query), {}

    return answer


CLIENTS_ONLY = {"clients.yaml": "clients:\n" + "".join(f"  C{i:02d}: {{name: Client {i}}}\n" for i in range(30))}


# -- creates whose answer is lost, against a server with no uniqueness rules ------------------------
def test_late_landing_creates_never_become_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clients: list[dict[str, Any]] = []
    lock = threading.Lock()
    posts = [0]

    def answer(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if method == "POST" and path == "/Clients":
            record = {"ID": uuid.uuid4().hex, "IsActive": True, "ClientNumber": "", "Notes": "", **body}
            with lock:
                posts[0] += 1
                late = posts[0] % 3 == 0
            if late:  # the client gives up first; the write lands afterwards
                time.sleep(1.2)
            with lock:
                clients.append(record)
            return 201, {"data": record}, {}
        if path == "/Clients" and "ShortName" in query:
            found = [c for c in clients if c["ShortName"] == query["ShortName"]]
            return 200, page([c for c in found if c["IsActive"] == (query.get("IsActive") != "false")], query), {}
        return basic_answers({"Clients": clients})(method, path, query, body)

    server = Hostile(answer)
    use(server, monkeypatch)
    config = write_config(tmp_path / "c", CLIENTS_ONLY)
    from reconciler.clicktime import client

    monkeypatch.setattr(client, "DEFAULT_RETRY", client.RetryPolicy(settle_pauses=(0.0, 0.3)))
    first = run("apply", config, "--yes", "--timeout", "0.4", "--concurrency", "4")
    monkeypatch.undo()
    use(server, monkeypatch)
    time.sleep(1.5)
    names = [c["ShortName"] for c in clients]
    assert len(names) == len(set(names)), f"duplicates: {sorted(n for n in names if names.count(n) > 1)}"
    if first.exit_code != 0:
        assert "not sent again" in first.stderr  # reported as unknown, for the next plan to settle
    second = run("apply", config, "--yes", "--timeout", "5")
    assert second.exit_code == 0, second.stderr
    names = [c["ShortName"] for c in clients]
    assert sorted(names) == sorted(f"C{i:02d}" for i in range(30))
    server.shutdown()


# -- answers that are not ClickTime's --------------------------------------------------------------
@pytest.mark.parametrize("broken, said", [
    ({"data": None}, "without a `data` array"),
    ({"data": [{"Name": "no id"}], "page": {"count": 1, "limit": 100, "offset": 0}}, "a record without an ID"),
    ({"data": [], "page": {"count": "many", "limit": 100, "offset": 0}}, "page.count is 'many'"),
    ({"data": [{"ID": "x", "ShortName": "A", "Name": "A"}], "page": {"count": 300_000_000, "limit": 1, "offset": 0}},
     "beyond any real account"),
])
def test_malformed_lists_are_one_line_errors(broken: dict[str, Any], said: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    normal = basic_answers({})

    def answer(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        return (200, broken, {}) if path == "/Clients" else normal(method, path, query, body)

    server = Hostile(answer)
    use(server, monkeypatch)
    result = run("plan", write_config(tmp_path / "c", CLIENTS_ONLY))
    server.shutdown()
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr and said in result.stderr and "clicktime: GET /Clients" in result.stderr


def test_a_dripping_server_meets_a_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    normal = basic_answers({})

    def answer(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        return (0, None, {}) if path == "/Clients" else normal(method, path, query, body)

    server = Hostile(answer)
    use(server, monkeypatch)
    started = time.monotonic()
    result = run("plan", write_config(tmp_path / "c", CLIENTS_ONLY), "--timeout", "1")
    server.shutdown()
    assert result.exit_code == 1 and "took longer than 2 s" in result.stderr
    assert time.monotonic() - started < 120


def test_retry_after_is_capped_and_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    normal = basic_answers({})
    asked = [0]

    def answer(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if path == "/Company" and asked[0] == 0:
            asked[0] += 1
            return 429, {"errors": [{"Message": "slow down"}]}, {"Retry-After": "86400"}
        return normal(method, path, query, body)

    from reconciler.clicktime import client

    monkeypatch.setattr(client, "DEFAULT_RETRY", client.RetryPolicy(max_delay=0.5))
    server = Hostile(answer)
    use(server, monkeypatch)
    result = run("plan", write_config(tmp_path / "c", CLIENTS_ONLY))
    server.shutdown()
    assert result.exit_code == 0, result.stderr
    assert "asked to wait 86400 s; waiting 0.5 s at most" in caplog.text


def test_a_server_gone_for_good_stops_the_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clients: list[dict[str, Any]] = []
    normal = basic_answers({"Clients": clients})
    gone = threading.Event()

    def answer(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if method == "POST":
            gone.set()
        if gone.is_set():
            raise ConnectionError  # the connection drops: no answer at all
        return normal(method, path, query, body)

    from reconciler.clicktime import client

    monkeypatch.setattr(client, "DEFAULT_RETRY", client.RetryPolicy(max_delay=0.05, attempts=3))
    server = Hostile(answer)
    use(server, monkeypatch)
    started = time.monotonic()
    result = run("apply", write_config(tmp_path / "c", CLIENTS_ONLY), "--yes", "--concurrency", "2")
    server.shutdown()
    assert result.exit_code == 1
    assert "the service looks gone" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("failed:") < 20  # it stopped; it did not try all 30
    assert time.monotonic() - started < 120


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_bad_timeouts_are_clean_errors(value: str, basic_config: Path) -> None:
    result = run("plan", basic_config, "--timeout", value)
    assert result.exit_code == 1 and "Traceback" not in result.stderr and "timeout" in result.stderr.lower()


@pytest.mark.parametrize("token", ["tök", "abc\rdef"])
def test_odd_tokens_are_clean_errors(token: str, basic_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKTIME_TOKEN", token)
    result = run("plan", basic_config, "--backend", "clicktime")
    assert result.exit_code == 1 and "CLICKTIME_TOKEN holds a character" in result.stderr


# -- saved plans and journals ------------------------------------------------------------------------
def test_a_hand_edited_plan_is_refused(basic_config: Path, tmp_path: Path, sandbox_path: Path) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    (basic_config / "clients.yaml").write_text((basic_config / "clients.yaml").read_text()
                                               .replace("name: Globex", "name: Globex Two"))
    planfile = tmp_path / "plan.json"
    assert run("plan", basic_config, "--out", planfile).exit_code == 0
    data = json.loads(planfile.read_text())
    update = next(c for c in data["changes"] if c["action"] == "update")
    original = json.dumps(data)
    update["fields"]["name"]["new"] = "Renamed by someone else"
    planfile.write_text(json.dumps(data))
    renamed = run("apply", basic_config, "--plan", planfile, "--yes")
    assert renamed.exit_code == 1
    assert "1 change(s) do not follow from the configuration" in renamed.stderr
    data = json.loads(original)
    data["changes"].append({**update, "action": "deactivate", "key": "ACME", "key_parts": ["ACME"],
                            "fields": {"active": {"old": True, "new": False}}})
    data["fingerprints"]["client:ACME"] = data["fingerprints"]["client:GLOBEX"]  # forged, as an attacker would
    planfile.write_text(json.dumps(data))
    extra = run("apply", basic_config, "--plan", planfile, "--yes")
    assert extra.exit_code == 1 and "ACME" in extra.stderr and "applied" not in extra.stdout


def test_ids_in_a_plan_cannot_redirect_a_request(basic_config: Path, tmp_path: Path, sandbox_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    assert run("plan", basic_config, "--out", planfile).exit_code == 0
    data = json.loads(planfile.read_text())
    data["ids"] = {"user:jane@example.com": "../../Users/x"}
    planfile.write_text(json.dumps(data))
    result = run("apply", basic_config, "--plan", planfile, "--yes")
    assert result.exit_code == 1 and "not a plan this version can read" in result.stderr


def test_keys_with_slashes_round_trip_through_a_saved_plan(tmp_path: Path, sandbox_path: Path) -> None:
    config = write_config(tmp_path / "c", {"clients.yaml": "clients:\n  A/B: {name: Slash}\n  A: {name: Plain}\n",
                                           "jobs.yaml": "jobs:\n  A/B:\n    C: {name: Job C}\n"})
    planfile = tmp_path / "plan.json"
    assert run("plan", config, "--out", planfile).exit_code == 0
    applied = run("apply", config, "--plan", planfile, "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert run("plan", config, "--detailed-exitcode").exit_code == 0


def test_resume_refuses_a_journal_of_another_configuration(basic_config: Path, tmp_path: Path,
                                                           state_dir: Path) -> None:
    from reconciler.journal import Journal
    from reconciler.model import Kind
    from reconciler.plan import Action, Change, FieldChange, Plan

    old = Plan((Change(Action.CREATE, Kind.CLIENT, ("OLD",), {"name": FieldChange(None, "Old")}),), "sandbox", {},
               config_checksum="another")
    journal = Journal.create(old)
    journal.close(finished=False)
    refused = run("apply", basic_config, "--resume", "--yes")
    assert refused.exit_code == 1 and "made from another configuration" in refused.stderr
    forced = run("apply", basic_config, "--resume", "--yes", "--force")
    assert forced.exit_code == 0, forced.stderr
    nothing = run("apply", basic_config, "--resume", "--yes")
    assert nothing.exit_code == 1 and "nothing to resume" in nothing.stderr


@pytest.mark.parametrize("left", ["", '{"time": 1.0, "event": "sta'])
def test_a_journal_killed_before_its_start_record_is_passed_over(left: str, basic_config: Path,
                                                                   state_dir: Path) -> None:
    """An apply killed while opening its journal sent nothing: the next apply, fresh or resumed,
    passes over the empty or torn file instead of failing on it."""
    journals = state_dir / "journal"
    journals.mkdir(parents=True)
    (journals / "apply-20990101T000000-1.jsonl").write_text(left, encoding="utf-8")  # the newest name
    nothing = run("apply", basic_config, "--resume", "--yes")
    assert nothing.exit_code == 1 and "nothing to resume" in nothing.stderr, nothing.stderr
    fresh = run("apply", basic_config, "--yes")
    assert fresh.exit_code == 0, fresh.stderr
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0


def test_guard_rails_count_active_objects_and_cascades(tmp_path: Path, sandbox_path: Path) -> None:
    jobs = "".join(f"    J{i:02d}: {{name: Job {i}{', active: false' if i >= 10 else ''}}}\n" for i in range(60))
    config = write_config(tmp_path / "c", {"reconciler.yaml": "prune: {jobs: deactivate}\n",
                                           "clients.yaml": "clients:\n  A: {name: A}\n",
                                           "jobs.yaml": "jobs:\n  A:\n" + jobs})
    assert run("apply", config, "--yes").exit_code == 0
    (config / "jobs.yaml").write_text("jobs:\n  A:\n" + "".join(
        f"    J{i:02d}: {{name: Job {i}, active: false}}\n" for i in range(60)))
    refused = run("apply", config, "--yes")
    assert refused.exit_code == 1 and "10 of 10 active jobs (100%)" in refused.stderr
    (config / "jobs.yaml").write_text("jobs:\n  A:\n" + jobs)
    (config / "clients.yaml").write_text("clients:\n  A: {name: A, active: false}\n")
    cascade = run("apply", config, "--yes")
    assert cascade.exit_code == 1 and "jobs: the plan deactivates or deletes 10 of 10 active jobs" in cascade.stderr


# -- state files and Ctrl-C --------------------------------------------------------------------------
def test_a_symlinked_state_directory_is_refused(basic_config: Path, tmp_path: Path, state_dir: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state_dir.symlink_to(elsewhere)
    result = run("apply", basic_config, "--yes")
    assert result.exit_code == 1 and "is a symbolic link" in result.stderr


def test_ctrl_c_stops_an_apply_promptly_and_says_how_to_resume(tmp_path: Path) -> None:
    path = tmp_path / "account.sqlite3"
    server = EmulatorServer(Emulator.open(str(path)), knobs=Knobs(latency_ms=40, token="t")).start()
    config = write_config(tmp_path / "c", {"clients.yaml": "clients:\n" + "".join(
        f"  C{i:03d}: {{name: Client {i}}}\n" for i in range(200))})
    env = {**os.environ, "RECONCILER_BACKEND": "clicktime", "CLICKTIME_API_URL": server.url, "CLICKTIME_TOKEN": "t",
           "NO_COLOR": "1", "RECONCILER_STATE_DIR": str(tmp_path / "state")}
    # a test runner started in the background (`pytest &`) ignores SIGINT, and its children would too
    process = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(config), "--yes", "--concurrency",
                                "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    # wait until writes flow; the server's own count, not a second reader of its database, which
    # a busy writer can keep waiting until the apply is over
    while server.stats["POST /Clients"] < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    server.stop()
    server.emulator.close()
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "--resume" in err
    assert out.count("applied:") + err.count("applied:") < 200


def test_the_journal_never_follows_a_symlink(tmp_path: Path) -> None:
    from reconciler.errors import ReconcilerError
    from reconciler.journal import Journal

    target = tmp_path / "precious"
    target.write_text("keep")
    (tmp_path / "apply.jsonl").symlink_to(target)
    with pytest.raises(ReconcilerError, match="never follows a symbolic link"):
        Journal(tmp_path / "apply.jsonl")
    assert target.read_text() == "keep"


def test_import_force_removes_its_stale_files_and_never_writes_through_a_link(basic_config: Path, tmp_path: Path,
                                                                              sandbox_path: Path) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    out = tmp_path / "imported"
    assert run("import", "--out", out).exit_code == 0
    (out / "clients" / "GONE.yaml").write_text((out / "clients" / "GLOBEX.yaml").read_text()
                                               .replace("GLOBEX", "GONE"))
    (out / "notes.yaml").write_text("# mine, not the import's\nclients: {}\n")
    assert run("import", "--out", out, "--force").exit_code == 0
    assert not (out / "clients" / "GONE.yaml").exists() and (out / "notes.yaml").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "clients").rename(tmp_path / "old-clients")
    (out / "clients").symlink_to(elsewhere)
    refused = run("import", "--out", out, "--force")
    assert refused.exit_code == 1 and "symbolic link" in refused.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_token_echoed_by_a_proxy_never_reaches_the_output_or_journal(tmp_path: Path, state_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    normal = basic_answers({})

    def answer(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if method == "POST":
            return 400, {"errors": [{"Message": "WAF refused: Authorization: Token hostile-token-123"}]}, {}
        return normal(method, path, query, body)

    server = Hostile(answer)
    use(server, monkeypatch)
    result = run("apply", write_config(tmp_path / "c", CLIENTS_ONLY), "--yes")
    server.shutdown()
    assert result.exit_code == 1 and "WAF refused" in result.stderr
    journals = "".join(p.read_text() for p in state_dir.rglob("*.jsonl"))
    assert "WAF refused" in journals
    assert "hostile-token-123" not in result.stdout + result.stderr + journals


def test_a_server_message_cannot_drive_the_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    normal = basic_answers({})

    def answer(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if path == "/Clients":
            return 403, {"errors": [{"Message": "no\x1b[2K\rall fine\x1b]0;pwned\x07 \u202eevil"}]}, {}
        return normal(method, path, query, body)

    server = Hostile(answer)
    use(server, monkeypatch)
    result = run("plan", write_config(tmp_path / "c", CLIENTS_ONLY))
    server.shutdown()
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\r" not in result.stderr and "\u202e" not in result.stderr
    assert "\\x1b" in result.stderr and "\\u202e" in result.stderr
