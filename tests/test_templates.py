"""Defaults, job templates and environment variables: expanded before planning, shown resolved."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import run, write_config

BASE = {
    "people.yaml": """
        tasks:
          DEV: {name: Development}
          DESIGN: {name: Design}
          PM: {}
        users:
          jane@example.com: {name: Jane Doe}
          bob@example.com: {name: Bob Roe}
        clients:
          ACME: {name: Acme}
        """,
    "templates.yaml": """
        defaults:
          jobs: {billable: false, notes: from defaults}
          users: {security_level: standard}
        templates:
          standard-project:
            billable: true
            tasks: [DEV, DESIGN]
            users: [jane@example.com]
          retainer:
            template: standard-project
            time_requires_approval: true
            project_manager: jane@example.com
        """,
}


def test_defaults_and_template_chain_resolve(tmp_path: Path, sandbox_path: Path) -> None:
    config = write_config(tmp_path / "c", {**BASE, "jobs.yaml": """
        jobs:
          ACME:
            A-1: {name: Plain}
            A-2: {name: Standard, template: standard-project, users: [bob@example.com]}
            A-3: {name: Retainer, template: retainer, notes: own notes}
        """})
    rendered = yaml.safe_load(run("render", config).stdout)
    jobs = rendered["jobs"]["ACME"]
    assert jobs["A-1"] == {"name": "Plain", "billable": False, "notes": "from defaults"}
    assert jobs["A-2"] == {"name": "Standard", "billable": True, "notes": "from defaults",
                           "tasks": ["DESIGN", "DEV"], "users": ["bob@example.com"]}
    assert jobs["A-3"]["time_requires_approval"] is True and jobs["A-3"]["notes"] == "own notes"
    assert jobs["A-3"]["tasks"] == ["DESIGN", "DEV"] and jobs["A-3"]["project_manager"] == "jane@example.com"
    assert rendered["users"]["jane@example.com"]["security_level"] == "standard"
    plan = run("plan", config).stdout
    assert 'time_requires_approval: true' in plan and "+ assign user bob@example.com to job ACME/A-2" in plan
    assert run("apply", config, "--yes").exit_code == 0
    assert run("plan", config, "--detailed-exitcode").exit_code == 0


def test_template_cycle_and_unknown_template_are_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c", {"t.yaml": """
        templates:
          a: {template: b}
          b: {template: a}
        jobs:
          X:
            J1: {name: One, template: a}
            J2: {name: Two, template: nope}
        """})
    result = run("validate", config)
    assert result.exit_code == 1
    assert "t.yaml:2:3: templates build on each other in a cycle: a -> b -> a" in result.stderr
    assert "t.yaml:7:31: template 'nope' is declared nowhere (templates: a, b)" in result.stderr


def test_problem_in_a_template_points_at_the_template(tmp_path: Path, sandbox_path: Path) -> None:
    config = write_config(tmp_path / "c", {**BASE, "jobs.yaml": """
        jobs:
          ACME:
            A-1: {name: One, template: standard-project}
            A-2: {name: Two, template: standard-project}
        """})
    (config / "templates.yaml").write_text((config / "templates.yaml").read_text().replace(
        "tasks: [DEV, DESIGN]", "tasks: [DEV, DEV]"))
    result = run("validate", config)
    assert result.exit_code == 1
    assert result.stderr.count("templates.yaml:7:18: tasks: 'DEV' is listed twice") == 1


def test_environment_variables(tmp_path: Path, sandbox_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_VAR_CLIENT_NAME", "Acme Staging")
    monkeypatch.delenv("RECONCILER_VAR_BILLABLE", raising=False)
    config = write_config(tmp_path / "c", {"c.yaml": """
        clients:
          ACME: {name: "${RECONCILER_VAR_CLIENT_NAME}", notes: "costs $$5 in ${RECONCILER_VAR_REGION:-eu}"}
        tasks:
          DEV:
            name: Development
            billable: ${RECONCILER_VAR_BILLABLE:-false}    # plain, so it reads as a boolean
        """})
    rendered = yaml.safe_load(run("render", config).stdout)
    assert rendered["clients"]["ACME"] == {"name": "Acme Staging", "notes": "costs $5 in eu"}
    assert rendered["tasks"]["DEV"]["billable"] is False
    write_config(config, {"d.yaml": "users:\n  a@example.com: {name: '${RECONCILER_VAR_UNSET_NAME}'}\n"})
    result = run("validate", config)
    assert result.exit_code == 1
    assert ("d.yaml:2:25: environment variable RECONCILER_VAR_UNSET_NAME is not set "
            "(give a default with ${RECONCILER_VAR_UNSET_NAME:-value})" in result.stderr)


def test_only_variables_with_the_prefix_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment also holds the tool's credentials: a pull request must not print them."""
    monkeypatch.setenv("CLICKTIME_TOKEN", "secret-token")
    config = write_config(tmp_path / "c", {"c.yaml": """
        clients:
          ACME: {name: "t=${CLICKTIME_TOKEN}", notes: "${CLICKTIME_TOKEN:-x}"}
        """})
    result = run("render", config)
    assert result.exit_code == 1 and "secret-token" not in result.stdout + result.stderr
    assert ("environment variable CLICKTIME_TOKEN cannot be used: the configuration may only read variables "
            "whose names start with RECONCILER_VAR_") in result.stderr
