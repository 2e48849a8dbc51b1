"""The clicktime backend over HTTP: clear errors, and the token never shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run, serve_over_http

from reconciler.sandbox.server import EmulatorServer, Knobs

SECRET = "s3cr3t-t0ken-value"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    with serve_over_http(tmp_path / "account.sqlite3", monkeypatch, Knobs(token=SECRET)) as srv:
        yield srv


def test_bad_token_is_one_clear_line(server: EmulatorServer, basic_config: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLICKTIME_TOKEN", "wrong-" + SECRET)
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ClickTime rejected the API token (HTTP 401): check CLICKTIME_TOKEN")
    assert SECRET not in result.stdout + result.stderr


def test_missing_token_says_where_to_find_one(server: EmulatorServer, basic_config: Path, monkeypatch) -> None:
    monkeypatch.delenv("CLICKTIME_TOKEN")
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert "needs an API token: set CLICKTIME_TOKEN" in result.stderr


def test_token_file(server: EmulatorServer, basic_config: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CLICKTIME_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text(SECRET + "\n")
    monkeypatch.setenv("CLICKTIME_TOKEN_FILE", str(token_file))
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 2


def test_permission_error_names_the_permission(server: EmulatorServer, basic_config: Path, monkeypatch) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    server.emulator.add_token("manager-token", "jane@example.com")  # jane is a manager
    monkeypatch.setenv("CLICKTIME_TOKEN", "manager-token")
    jobs = basic_config / "jobs.yaml"
    jobs.write_text(jobs.read_text().replace("WEB-002: {name: Shop}", "WEB-002: {absent: true}"))
    result = run("apply", basic_config, "--yes", "--allow-delete")
    assert result.exit_code == 1
    assert "failed: x delete job ACME/WEB-002 (Only administrators may delete jobs (HTTP 403" in result.stderr


def test_token_never_in_output_or_plan_file(server: EmulatorServer, basic_config: Path, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    outputs = [run("plan", basic_config, "--out", planfile), run("plan", basic_config, "--format", "json"),
               run("apply", basic_config, "--plan", planfile, "--yes"), run("import", "--out", tmp_path / "imported")]
    assert all(r.exit_code == 0 for r in outputs), [r.stderr for r in outputs]
    text = "".join(r.stdout + r.stderr for r in outputs) + planfile.read_text()
    text += "".join(p.read_text() for p in (tmp_path / "imported").rglob("*.yaml"))
    assert SECRET not in text
    assert json.loads(planfile.read_text())["backend"] == "clicktime"


def test_plan_reads_the_minimum_number_of_pages(server: EmulatorServer, basic_config: Path) -> None:
    server.emulator.max_page_size = 2
    assert run("apply", basic_config, "--yes").exit_code == 0
    before = server.stats["total"]
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0
    calls = server.stats["total"] - before
    # Company + Me; ceil(n/2) pages of the active 2 clients, 11 tasks, 3 users, 3 jobs, and one
    # (empty) page of each kind's inactive records; the custom-field definitions of the 4 kinds
    # declared; and the assignment lists the configuration manages: tasks on 2 jobs, users on 1.
    assert calls == 2 + (1 + 6 + 2 + 2) + 4 + 4 + 3
