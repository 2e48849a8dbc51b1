"""The pull-request workflow end to end, without GitHub: a scratch git repository, the emulator's
HTTP server as the account, two pull requests planned against it, the older one merged and its
own plan applied, the other's refused. The reconciler commands are read out of the workflow files
in examples/github-actions/ and run as written (with the step's variables filled in), so the test
and the workflows cannot drift apart."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BASIC, EXAMPLES, Result, run, serve_over_http, write_config

from reconciler.cli import main
from reconciler.sandbox.server import Knobs

WORKFLOWS = EXAMPLES / "github-actions"
MARKER = "<!-- reconciler:clicktime-plan -->"


def steps(name: str) -> list[dict[str, Any]]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def commands(run_text: str) -> list[list[str]]:
    """The reconciler invocations in a step's shell text, as argument lists (redirections and
    what follows `;`, `|` or `&&` left out)."""
    joined = run_text.replace("\\\n", " ")
    found = []
    for match in re.finditer(r"(?:^|[\s(;])reconciler\s+([^;|&>)\n]*)", joined):
        found.append(shlex.split(match.group(1)))
    return found


def step_command(workflow: str, step_name: str, index: int = 0) -> list[str]:
    [step] = [s for s in steps(workflow) if s.get("name") == step_name]
    return commands(step["run"])[index]


def run_step(args: list[str], **variables: str) -> Result:
    """Run one workflow command with the step's variables ($NAME) filled in."""
    filled = [re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], arg) for arg in args]
    return run(*filled)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def pull_request(repo: Path, branch: str, files: dict[str, str]) -> str:
    """A branch off main with one commit; its SHA is what the plan workflow sees as the head."""
    git(repo, "checkout", "-q", "-b", branch, "main")
    write_config(repo, files)
    git(repo, "add", "-A", "clicktime")
    git(repo, "commit", "-q", "-m", f"{branch}: change the configuration")
    return git(repo, "rev-parse", "HEAD")


# -- the workflow files themselves ----------------------------------------------------------------
def test_every_reconciler_command_in_the_workflows_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clicktime").mkdir()
    (tmp_path / "reviewed").mkdir()
    for name in ("plan.json", "reviewed/plan.json"):
        (tmp_path / name).write_text("{}")
    seen = set()
    for workflow in ("clicktime-plan.yml", "clicktime-apply.yml", "clicktime-drift.yml"):
        for step in steps(workflow):
            for args in commands(step.get("run", "")):
                filled = [re.sub(r"\$(\w+)", "0" * 40, a) for a in args]
                command = main.get_command(None, filled[0])  # type: ignore[arg-type]
                assert command is not None, args
                command.make_context(filled[0], filled[1:])  # raises on an unknown or bad option
                seen.add(filled[0])
    assert seen == {"plan", "apply", "drift"}


def test_workflows_pin_actions_guard_the_token_and_install_a_pinned_tool() -> None:
    for workflow in ("clicktime-plan.yml", "clicktime-apply.yml", "clicktime-drift.yml"):
        data = yaml.safe_load((WORKFLOWS / workflow).read_text())
        for job in data["jobs"].values():
            assert "CLICKTIME_TOKEN" not in job.get("env", {})
            pinned = job["env"]["RECONCILER_PIP"]
            assert re.fullmatch(r"clicktime-reconciler @ git\+https://\S+@(v\d+\.\d+\.\d+|[0-9a-f]{40})", pinned)
            for step in job["steps"]:
                if "uses" in step:
                    assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
                talks_to_clicktime = any(a[0] in ("plan", "apply", "drift") for a in commands(step.get("run", "")))
                assert ("CLICKTIME_TOKEN" in step.get("env", {})) == talks_to_clicktime, step
                assert "pip install clicktime-reconciler" not in step.get("run", "")
    apply_job = yaml.safe_load((WORKFLOWS / "clicktime-apply.yml").read_text())["jobs"]["apply"]
    assert apply_job["environment"]
    drift = (WORKFLOWS / "clicktime-drift.yml").read_text()
    assert "gh label create clicktime-drift" in drift and "--force" in drift  # works before the label exists
    for command in commands(drift):
        assert "--redact" in command


# -- the whole flow -----------------------------------------------------------------------------
def test_two_pull_requests_the_older_merged_applies_its_own_plan(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write_config(repo / "clicktime", BASIC)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "The account as it is")
    artifacts = tmp_path / "artifacts"
    plan_cmd = step_command("clicktime-plan.yml", "plan")
    apply_cmd = step_command("clicktime-apply.yml", "apply the reviewed plan")

    with serve_over_http(tmp_path / "account.sqlite3", monkeypatch, Knobs(token="workflow-token")):
        monkeypatch.chdir(repo)
        assert run("apply", "clicktime/", "--yes").exit_code == 0  # main and the account agree
        older = pull_request(repo, "pr-1", {"clicktime/initech.yaml": "clients:\n  INITECH: {name: Initech}\n"})
        newer = pull_request(repo, "pr-2", {"clicktime/review.yaml": "tasks:\n  REVIEWX: {name: Design review}\n"})

        for branch, head in (("pr-1", older), ("pr-2", newer)):
            git(repo, "checkout", "-q", branch)
            for _push in range(2):  # a second run edits the same comment: one body, one marker
                planned = run_step(plan_cmd, HEAD_SHA=head)
                assert planned.exit_code == 2, planned.stderr
                body = (repo / "comment.md").read_text()
                assert body.startswith(MARKER + "\n### ClickTime plan") and body.count("<!-- reconciler:") == 1
                assert f"Planned from commit `{head}`" in body
            kept = artifacts / f"clicktime-plan-{head}"  # what the upload step keeps
            kept.mkdir(parents=True)
            shutil.copy(repo / "plan.json", kept / "plan.json")
            shutil.copytree(repo / "plan-md", kept / "plan-md")
        assert "create client" in (artifacts / f"clicktime-plan-{older}" / "plan-md" / "plan-1.md").read_text()
        assert "create task" in (artifacts / f"clicktime-plan-{newer}" / "plan-md" / "plan-1.md").read_text()

        # The older pull request is merged; the apply job finds the merged PR's head commit
        # (GitHub: commits/{sha}/pulls; here: the merge's second parent) and that commit's plan.
        git(repo, "checkout", "-q", "main")
        git(repo, "merge", "-q", "--no-ff", "pr-1", "-m", "Merge pull request #1")
        head = git(repo, "rev-parse", "HEAD^2")
        assert head == older
        (repo / "reviewed").mkdir()
        shutil.copy(artifacts / f"clicktime-plan-{head}" / "plan.json", repo / "reviewed" / "plan.json")
        applied = run_step(apply_cmd, HEAD_SHA=head)
        assert applied.exit_code == 0, applied.stderr
        summary = (repo / "summary.md").read_text()
        assert "### ClickTime apply succeeded" in summary and "**1 applied, 0 failed, 0 skipped.**" in summary
        assert f"Plan made from commit `{head}`" in summary

        # "The newest plan of any pull request" would be the other one's: refused.
        shutil.copy(artifacts / f"clicktime-plan-{newer}" / "plan.json", repo / "reviewed" / "plan.json")
        refused = run_step(apply_cmd, HEAD_SHA=head)
        assert refused.exit_code == 1
        assert f"was planned from commit {newer}, not {head}" in refused.stderr
        assert "### ClickTime apply did not finish" in (repo / "summary.md").read_text()
        # Even under its own commit, it was made from another configuration than merged main.
        assert run_step(apply_cmd, HEAD_SHA=newer).exit_code == 1

        assert run("plan", "clicktime/", "--detailed-exitcode").exit_code == 0  # main is in the account
        git(repo, "checkout", "-q", "pr-2")
        again = run("plan", "clicktime/", "--format", "json")
        assert '"action": "create"' in again.stdout and '"kind": "task"' in again.stdout


def test_a_failed_plan_posts_its_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "repo" / "clicktime", {**BASIC, "jobs.yaml": "jobs:\n  NOPE:\n    J-1: {}\n"})
    monkeypatch.chdir(config.parent)
    with serve_over_http(tmp_path / "account.sqlite3", monkeypatch, Knobs(token="workflow-token")):
        failed = run_step(step_command("clicktime-plan.yml", "plan"), HEAD_SHA="0" * 40)
    assert failed.exit_code == 1
    body = (config.parent / "comment.md").read_text()
    assert body.startswith(MARKER + "\n### ClickTime plan") and body.count("<!-- reconciler:") == 1
    assert "NOPE" in body
    assert not (config.parent / "plan.json").exists()
