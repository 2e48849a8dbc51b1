"""The command line as Terraform and octoDNS users expect it: exit codes, -v/--debug/--quiet,
progress on a terminal only, `show`, `validate --format json`, `schema`, `--only`, commits in
saved plans, comment bodies and apply summaries, and the apply lock."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from conftest import BASIC, account, run, serve_over_http, write_config

from reconciler import progress
from reconciler.cli import app as cli
from reconciler.cli import apply_command, pipeline
from reconciler.clicktime.client import ClickTimeClient, RetryPolicy
from reconciler.clicktime.transport import Request, Response, TransportError
from reconciler.errors import ReconcilerError, RequestFailed
from reconciler.lock import ApplyLock
from reconciler.model import Kind
from reconciler.plan import Action, Change, Plan
from reconciler.planfile import load_plan, plan_from_json, plan_to_json
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.server import Knobs
from reconciler.sandbox.transport import SandboxTransport
from reconciler.scope import limit, parse_scope


@pytest.fixture
def sandbox_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """One in-process account is enough here: the transports have their own suites."""
    yield from account("sandbox", None, tmp_path, monkeypatch)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config", BASIC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# -- exit codes ----------------------------------------------------------------------------------
def test_usage_errors_exit_1(config: Path, sandbox_path: Path) -> None:
    mistyped = run("drift", config, "--formt", "markdown")
    assert mistyped.exit_code == 1
    assert "No such option '--formt'" in mistyped.stderr
    assert run("-q", "-v", "plan", config).exit_code == 1
    assert run("apply", config, "--expect-commit", "abcdef1").exit_code == 1  # needs --plan
    assert run("plan", config, "--commit", "not-a-sha").exit_code == 1
    assert run("plan", config, "--only", "projects").exit_code == 1
    assert run("plan", config, "--comment-marker", "x -->").exit_code == 1
    assert run("show").exit_code == 1


def test_changes_pending_exit_2_only(config: Path, sandbox_path: Path) -> None:
    assert run("plan", config, "--detailed-exitcode").exit_code == 2
    assert run("plan", config).exit_code == 0
    assert run("drift", config).exit_code == 2


# -- logging ---------------------------------------------------------------------------------------
def test_verbose_says_each_phase_with_counts(config: Path, sandbox_path: Path) -> None:
    assert run("apply", config, "--yes").exit_code == 0
    result = run("-v", "plan", config, "--only", "jobs")
    assert result.exit_code == 0
    assert "loaded " in result.stderr and ": 4 file(s), 9 object(s)" in result.stderr
    assert "read the account in " in result.stderr and "2 clients" in result.stderr
    assert "planned (jobs): No changes." in result.stderr
    assert "HTTP 200" not in result.stderr  # requests only at --debug


def test_debug_shows_every_request_never_the_token(config: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "account.sqlite3"
    with serve_over_http(path, monkeypatch, Knobs(token="secret-token-1234")):
        result = run("--debug", "plan", config)
    assert result.exit_code == 0, result.stderr
    assert "reconciler.http: GET /Company -> HTTP 200 in " in result.stderr
    assert "GET /Clients -> HTTP 200" in result.stderr
    assert "secret-token-1234" not in result.stderr + result.stdout


def test_quiet_leaves_out_notes(config: Path, sandbox_path: Path) -> None:
    loud, quiet = run("plan", config), run("-q", "plan", config)
    assert "API call(s)" in loud.stderr
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout


class Flaky:
    """A transport that fails `failures` times (a 503, then a dropped connection), then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def send(self, request: Request) -> Response:
        if self.failures > 0:
            self.failures -= 1
            if self.failures % 2:
                return Response(503, {"errors": []})
            raise TransportError("connection reset by peer", sent=False)
        return Response(200, {"data": {"ID": "1"}})

    def close(self) -> None:
        pass


def test_retries_say_what_failed_and_the_wait(capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler import logs
    from reconciler.retries import observe

    logs.configure(verbose=1, debug=False, quiet=False)
    try:
        client = observe(ClickTimeClient(Flaky(2), retry=RetryPolicy(attempts=4, base_delay=0.0)))
        assert client.get_object("/Company") == {"ID": "1"}
        lines = capsys.readouterr().err
        assert "GET /Company: HTTP 503; waiting 0.0 s before attempt 2 of 4" in lines
        assert "GET /Company: connection reset by peer; waiting 0.0 s before attempt 3 of 4" in lines
        failing = observe(ClickTimeClient(Flaky(10), retry=RetryPolicy(attempts=2, base_delay=0.0)))
        with pytest.raises(RequestFailed) as failed:
            failing.get_object("/Company")
        assert "gave up after 2 attempts over " in str(failed.value)
    finally:
        logs.configure(verbose=0, debug=False, quiet=False)


# -- progress --------------------------------------------------------------------------------------
def test_progress_line_counts_elapsed_and_eta() -> None:
    screen, now = Terminal(), [0.0]
    line = progress.ProgressLine("Reading the account", screen, clock=lambda: now[0])
    for done in range(1, 5):
        now[0] = done
        line(done, 8)
    drawn = screen.getvalue()
    assert "Reading the account" in drawn and "4/8" in drawn
    assert "elapsed 0:04, eta 0:04" in drawn
    assert "\r" in drawn  # one line, redrawn in place
    line.close()
    assert screen.getvalue().endswith("\r\x1b[?25h")  # erased, cursor back


def test_progress_reported_for_fetch_and_apply(config: Path, sandbox_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    made: list[str] = []

    def on_terminal(label: str) -> progress.ProgressLine:
        made.append(label)
        return progress.ProgressLine(label, screen, interval=0.0)

    for module in (pipeline, apply_command):  # the two places that draw one
        monkeypatch.setattr(module, "progress_line", on_terminal)
    assert run("apply", config, "--yes").exit_code == 0
    assert made == ["Reading the account", "Applying"]
    assert "Applying [" in screen.getvalue() and "13/13" in screen.getvalue()
    assert "Reading the account [" in screen.getvalue()


def test_no_progress_off_a_terminal_or_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", Terminal())
    with click.Context(cli.main, obj=cli.Output(quiet=False)):
        assert cli.progress_line("x") is not None
    with click.Context(cli.main, obj=cli.Output(quiet=True)):
        assert cli.progress_line("x") is None
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with click.Context(cli.main, obj=cli.Output(quiet=False)):
        assert cli.progress_line("x") is None


# -- show, validate --format json, schema ----------------------------------------------------------
def test_show_renders_a_saved_plan_without_the_account(config: Path, sandbox_path: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", config, "--out", saved, "--commit", "ABCDEF1234").exit_code == 0
    monkeypatch.setenv("RECONCILER_BACKEND", "clicktime")  # no token: any contact would fail
    text = run("show", saved)
    assert text.exit_code == 0, text.stderr
    assert "Commit: abcdef1234" in text.stdout and "Plan: 9 to create, 4 to assign." in text.stdout
    assert json.loads(run("show", saved, "--format", "json").stdout)["commit"] == "abcdef1234"
    markdown = run("show", saved, "--format", "markdown", "--redact").stdout
    assert "### ClickTime plan" in markdown
    assert "jane@example.com" not in markdown and "j\\*\\*\\*" in markdown


def test_validate_json_for_editors(config: Path, tmp_path: Path) -> None:
    good = run("validate", config, "--format", "json")
    assert good.exit_code == 0
    assert json.loads(good.stdout) == {"valid": True, "problems": [], "files": 4, "objects": 9}
    bad_dir = write_config(tmp_path / "bad", {"clients.yaml": "clients:\n  ACME: {name: 1, colour: red}\n"})
    bad = run("validate", bad_dir, "--format", "json")
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert report["valid"] is False and report["files"] == 1 and report["objects"] is None
    assert {"path", "line", "column", "message"} == set(report["problems"][0])
    assert all(p["path"].endswith("clients.yaml") and p["line"] == 2 for p in report["problems"])


def test_schema_prints_the_json_schemas() -> None:
    for name in ("config", "settings"):
        result = run("schema", name)
        assert result.exit_code == 0
        assert json.loads(result.stdout)["$schema"].startswith("https://json-schema.org/")
    assert json.loads(run("schema").stdout)["properties"].keys() >= {"clients", "jobs", "tasks", "users"}


# -- --only ----------------------------------------------------------------------------------------
def test_only_limits_plan_apply_and_drift(config: Path, sandbox_path: Path) -> None:
    planned = run("plan", config, "--only", "clients", "--only", "jobs:ACME/*", "--format", "json")
    data = json.loads(planned.stdout)
    assert data["partial"] == ["clients", "jobs:ACME/*"]
    assert {(c["kind"], c["key"]) for c in data["changes"]} == {
        ("client", "ACME"), ("client", "GLOBEX"), ("job", "ACME/WEB-001"), ("job", "ACME/WEB-002")}
    assert set(data["policy"]) == {"clients", "jobs"}
    text = run("plan", config, "--only", "clients").stdout
    assert "Partial plan: only clients; the rest of the account is left alone" in text
    assert "Partial plan: only `clients`" in run("plan", config, "--only", "clients", "--format", "markdown").stdout
    assert run("apply", config, "--yes", "--only", "clients").exit_code == 0
    emulator = Emulator.open(str(sandbox_path))
    try:
        client = ClickTimeClient(SandboxTransport(emulator))
        assert {c["ShortName"] for c in client.list_all("Clients")} == {"ACME", "GLOBEX"}
        assert client.list_all("Jobs") == []
    finally:
        emulator.close()
    assert run("drift", config, "--only", "clients").exit_code == 0
    assert run("drift", config, "--only", "jobs").exit_code == 2


def test_only_never_prunes_outside_its_scope(tmp_path: Path, sandbox_path: Path) -> None:
    first = write_config(tmp_path / "first", {**BASIC, "reconciler.yaml": "prune: {jobs: deactivate}\n"})
    assert run("apply", first, "--yes").exit_code == 0
    jobs = BASIC["jobs.yaml"].replace("            WEB-002: {name: Shop}\n", "")
    second = write_config(tmp_path / "second", {**BASIC, "jobs.yaml": jobs,
                                                "reconciler.yaml": "prune: {jobs: deactivate}\n"})
    assert "deactivate job ACME/WEB-002" in run("plan", second).stdout
    assert run("plan", second, "--only", "jobs:GLOBEX/*", "--detailed-exitcode").exit_code == 0


def test_scope_is_a_pure_function_over_the_plan() -> None:
    client = Change(Action.CREATE, Kind.CLIENT, ("NEW",), {})
    job = Change(Action.CREATE, Kind.JOB, ("NEW", "J-1"), {})
    user = Change(Action.UPDATE, Kind.USER, ("Ann@Example.com",), {})
    whole = Plan(changes=(client, job, user), backend="sandbox", kinds={})
    part = limit(whole, [parse_scope("jobs:NEW/*"), parse_scope("user:ann@*")])
    assert part.changes == (job, user) and part.partial == ("jobs:NEW/*", "users:ann@*")
    assert any("need client NEW, which only a change it leaves out creates" in w for w in part.warnings)
    assert limit(whole, []) is whole
    with pytest.raises(ValueError, match="not a kind"):
        parse_scope("projects:*")


# -- commits in saved plans --------------------------------------------------------------------------
def test_expect_commit_refuses_another_commits_plan(config: Path, sandbox_path: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", config, "--out", saved, "--commit", "1111111aaaa").exit_code == 0
    other = run("apply", config, "--plan", saved, "--expect-commit", "2222222bbbb", "--yes")
    assert other.exit_code == 1
    assert "was planned from commit 1111111aaaa, not 2222222bbbb" in other.stderr
    untagged = tmp_path / "untagged.json"
    assert run("plan", config, "--out", untagged).exit_code == 0
    refused = run("apply", config, "--plan", untagged, "--expect-commit", "1111111", "--yes")
    assert refused.exit_code == 1 and "records no commit" in refused.stderr
    assert run("apply", config, "--plan", saved, "--expect-commit", "1111111", "--yes").exit_code == 0


def test_plan_files_without_a_commit_still_read(config: Path, sandbox_path: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", config, "--out", saved).exit_code == 0
    data = json.loads(saved.read_text())
    del data["commit"]
    assert plan_from_json(data).commit == ""
    data["commit"] = "$(reboot)"
    with pytest.raises(ReconcilerError, match="not a git commit name"):
        plan_from_json(data)
    assert plan_to_json(load_plan(saved))["commit"] == ""


def test_redacted_saved_plan_still_applies(config: Path, sandbox_path: Path, tmp_path: Path) -> None:
    assert run("apply", config, "--yes").exit_code == 0
    renamed = write_config(tmp_path / "renamed", {**BASIC, "users.yaml": BASIC["users.yaml"].replace(
        "Bob Roe", "Robert Roe")})
    saved = tmp_path / "plan.json"
    assert run("plan", renamed, "--out", saved, "--redact").exit_code == 0
    text = saved.read_text()
    assert "Bob Roe" not in text and "Robert Roe" in text  # the account's old value masked, the new one kept
    assert run("apply", renamed, "--plan", saved, "--yes").exit_code == 0
    assert run("plan", renamed, "--detailed-exitcode").exit_code == 0


# -- comment bodies and the apply summary ----------------------------------------------------------
def test_comment_body_has_one_marker_and_errors_are_posted_too(config: Path, sandbox_path: Path,
                                                              tmp_path: Path) -> None:
    body = run("plan", config, "--comment-marker", "clicktime-plan", "--redact")
    assert body.stdout.startswith("<!-- reconciler:clicktime-plan -->\n### ClickTime plan")
    assert body.stdout.count("<!-- reconciler:") == 1
    comment = tmp_path / "comment.md"
    broken = write_config(tmp_path / "broken", {**BASIC, "users.yaml": "users:\n  jane@example.com: {nam: Jane}\n"})
    failed = run("plan", broken, "--comment-marker", "clicktime-plan", "--comment-to", comment, "--redact")
    assert failed.exit_code == 1
    text = comment.read_text()
    assert text.startswith("<!-- reconciler:clicktime-plan -->\n### ClickTime plan: the configuration is invalid")
    assert "problem" in text and "users.yaml:2:" in text and "nam" in text
    assert text.count("<!-- reconciler:") == 1
    assert run("plan", config, "--comment-to", comment).exit_code == 1  # needs --comment-marker


def test_apply_summary_on_success_and_on_refusal(config: Path, sandbox_path: Path, tmp_path: Path,
                                                 state_dir: Path) -> None:
    summary = tmp_path / "summary.md"
    with ApplyLock(state_dir / "apply.lock"):
        held = run("apply", config, "--yes", "--summary-to", summary, "--redact")
    assert held.exit_code == 1
    text = summary.read_text()
    assert "### ClickTime apply did not finish" in text and "another apply is running" in text
    assert "--resume" in text
    done = run("apply", config, "--yes", "--summary-to", summary, "--redact", "--comment-marker", "apply-1")
    assert done.exit_code == 0
    text = summary.read_text()
    assert text.startswith("<!-- reconciler:apply-1 -->\n### ClickTime apply succeeded")
    assert "**13 applied, 0 failed, 0 skipped.**" in text
    assert "jane@example.com" not in text + done.stdout + done.stderr


# -- the apply lock -----------------------------------------------------------------------------------
def test_lock_names_the_holder_and_refuses_a_symlink(tmp_path: Path) -> None:
    path = tmp_path / "state" / "apply.lock"
    with ApplyLock(path), pytest.raises(ReconcilerError, match=rf"\(pid {os.getpid()} since "), ApplyLock(path):
        pass
    with ApplyLock(path):  # released
        pass
    target = tmp_path / "precious"
    target.write_text("keep")
    (tmp_path / "state" / "link.lock").symlink_to(target)
    with pytest.raises(ReconcilerError, match="is a symbolic link"), ApplyLock(tmp_path / "state" / "link.lock"):
        pass
    assert target.read_text() == "keep"


def test_completion_script(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli.main, [], prog_name="reconciler", env={"_RECONCILER_COMPLETE": "bash_source"})
    assert "_reconciler_completion" in result.output
