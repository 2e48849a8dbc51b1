"""validate -> plan -> apply -> plan again -> import -> plan: the whole loop on real files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, TRANSPORTS, Result, account, run

from reconciler.clicktime.client import ClickTimeClient


PROFILES = ["bills-by-job", "corporate-bills-by-job"]


@pytest.fixture(params=[(t, p) for p in PROFILES for t in [*TRANSPORTS, "http-real-style"]],
                ids=lambda param: "-".join(param))
def sandbox_path(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The whole loop on two kinds of account, over every transport, and over a server that
    answers as a real account might where ClickTime's documents are silent."""
    transport, profile = request.param
    yield from account(transport, profile, tmp_path, monkeypatch)


def assert_no_changes(directory: Path) -> Result:
    result = run("plan", directory, "--detailed-exitcode")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout
    return result


def test_plan_then_apply_then_nothing_left(basic_config: Path, sandbox_path: Path) -> None:
    plan = run("plan", basic_config, "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "Plan: 9 to create, 4 to assign." in plan.stdout
    applied = run("apply", basic_config, "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert "Apply complete: 13 change(s) applied." in applied.stdout
    assert_no_changes(basic_config)
    assert run("apply", basic_config, "--yes").stdout.count("applied:") == 0


def test_import_round_trip(basic_config: Path, tmp_path: Path, sandbox_path: Path) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    out = tmp_path / "imported"
    result = run("import", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml")) == [
        "clients/ACME.yaml", "clients/GLOBEX.yaml", "reconciler.yaml", "tasks.yaml", "users.yaml"]
    assert run("validate", out).exit_code == 0
    assert_no_changes(out)
    acme = (out / "clients" / "ACME.yaml").read_text()
    assert "WEB-001" in acme and "- DESIGN" in acme and "project_manager: jane@example.com" in acme
    assert "active: true" not in acme and "billable: true" not in acme  # ClickTime's defaults are left out
    full = tmp_path / "full"
    assert run("import", "--out", full, "--all-fields").exit_code == 0
    assert "active: true" in (full / "clients" / "ACME.yaml").read_text()
    assert_no_changes(full)


def test_import_refuses_to_mix_with_existing_files(basic_config: Path, sandbox_path: Path) -> None:
    result = run("import", "--out", basic_config)
    assert result.exit_code == 1
    assert "already holds" in result.stderr


def test_example_agency_applies_and_converges(tmp_path: Path, sandbox_path: Path,
                                              request: pytest.FixtureRequest) -> None:
    example = EXAMPLES / "agency"
    named = (example / "reconciler.yaml").read_text().splitlines()[0].removeprefix("# Sandbox profile: ")
    if request.node.callspec.params["sandbox_path"][1] != named:
        pytest.skip(f"the agency example is written for the {named} profile")
    assert run("validate", example).exit_code == 0
    first = run("apply", example, "--yes")
    assert first.exit_code == 0, first.stderr
    assert_no_changes(example)
    out = tmp_path / "imported"
    assert run("import", "--out", out).exit_code == 0
    assert_no_changes(out)


def test_json_plan_shape(basic_config: Path, sandbox_path: Path) -> None:
    result = run("plan", basic_config, "--format", "json")
    data = json.loads(result.stdout)
    assert set(data) >= {"changes", "summary"}
    first = data["changes"][0]
    assert set(first) >= {"action", "kind", "key", "fields"}
    assert {c["action"] for c in data["changes"]} == {"create", "assign"}
    job = next(c for c in data["changes"] if c["kind"] == "job" and c["action"] == "create")
    assert job["key"] == "ACME/WEB-001"
    assert job["fields"]["name"] == {"old": None, "new": "Website Redesign"}
    assert data["summary"]["create"] == 9 and data["summary"]["assign"] == 4


def test_markdown_plan(basic_config: Path, sandbox_path: Path) -> None:
    result = run("plan", basic_config, "--format", "markdown")
    assert result.stdout.startswith("### ClickTime plan")
    assert "| create | 9 |" in result.stdout
    assert "<details><summary>Jobs (3)</summary>" in result.stdout


def test_apply_refuses_without_terminal_or_yes(basic_config: Path, emulator, api: ClickTimeClient) -> None:
    result = run("apply", basic_config)
    assert result.exit_code == 1
    assert "pass --yes" in result.stderr
    assert [c["ShortName"] for c in api.list_all("Clients")] == []


def test_sandbox_reset_and_show(sandbox_path: Path, basic_config: Path) -> None:
    run("apply", basic_config, "--yes")
    shown = run("sandbox", "show")
    assert "Clients       2 active" in shown.stdout
    assert run("sandbox", "reset").exit_code == 0
    shown = run("sandbox", "show")
    assert "Clients       0 active" in shown.stdout
    assert "Tasks         9 active" in shown.stdout


def test_validate_needs_no_backend(basic_config: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RECONCILER_BACKEND", "no-such-backend")
    assert run("validate", basic_config).exit_code == 0
    assert run("plan", basic_config).exit_code == 1
