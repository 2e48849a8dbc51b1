"""CSV to YAML: header mapping, clear errors with row numbers, and the onboarding example."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import EXAMPLES, run

ONBOARDING = EXAMPLES / "onboarding"


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_jobs_from_csv_with_template(tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "projects.csv", "\ufeffClient,Job Number,Name,Billable,Tasks,Start Date\n"
                                                   "ACME,007,Web,Yes,DEV; DESIGN,2024-01-01\n"
                                                   "ACME,W-2,App,no,,\n\n"
                                                   "BETA,W-2,Same number other client,,DEV|QA,\n")
    result = run("scaffold", "--from", csv_file, "--kind", "jobs", "--template", "std", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert "(3 jobs)" in result.stdout
    document = yaml.safe_load((tmp_path / "out" / "projects.yaml").read_text())
    assert document["jobs"]["ACME"]["007"] == {"template": "std", "name": "Web", "billable": True,
                                               "tasks": ["DEV", "DESIGN"], "start_date": "2024-01-01"}
    assert document["jobs"]["ACME"]["W-2"] == {"template": "std", "name": "App", "billable": False}
    assert document["jobs"]["BETA"]["W-2"]["tasks"] == ["DEV", "QA"]


def test_every_problem_with_its_row(tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "people.csv", "Email,Name,Security Level,Start Date,Active\n"
                                                 "a@example.com,Ann,manager,2024-01-01,yes\n"
                                                 "A@example.com,Ann again,,,\n"
                                                 ",Nobody,,,\n"
                                                 "b@example.com,Bob,boss,2024-02-30,perhaps\n"
                                                 "c@example.com," + "x" * 51 + ",,,\n")
    result = run("scaffold", "--from", csv_file, "--kind", "users", "--out", tmp_path / "out")
    assert result.exit_code == 1
    lines = [line.split("people.csv:")[1] for line in result.stderr.splitlines() if "people.csv:" in line]
    assert lines == [
        "3:1: A@example.com is already on row 2",
        "4:1: email is empty",
        "5:3: security_level: 'boss' is not one of: standard, manager, admin",
        "5:4: start_date: '2024-02-30' is not a valid date",
        "5:5: active: 'perhaps' is not yes/no or true/false",
        "6:2: name: 51 characters, at most 50 allowed",
    ]
    assert not (tmp_path / "out").exists()


def test_unknown_and_missing_columns(tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "p.csv", "Client,Nmae,Budget\nACME,x,3\n")
    result = run("scaffold", "--from", csv_file, "--kind", "jobs", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "p.csv:1:2: unknown column 'Nmae' (did you mean 'name'?)" in result.stderr
    assert "p.csv:1:3: unknown column 'Budget' (known columns: client, job_number, name," in result.stderr
    assert "p.csv:1:1: missing column 'job_number'" in result.stderr


def test_onboarding_example_matches_its_csv_and_plans(tmp_path: Path, sandbox_path: Path) -> None:
    out = tmp_path / "again"
    assert run("scaffold", "--from", ONBOARDING / "csv" / "projects.csv", "--kind", "jobs",
               "--template", "fixed-fee", "--out", out).exit_code == 0
    assert (out / "projects.yaml").read_text() == (ONBOARDING / "projects" / "projects.yaml").read_text()
    rendered = yaml.safe_load(run("render", ONBOARDING).stdout)
    job = rendered["jobs"]["NORTHWIND"]["NW-101"]
    assert job["time_requires_approval"] is True and job["billable"] is True  # fixed-fee, then defaults
    assert job["tasks"] == ["BUILD", "DISC", "PMGT", "QA-R"]  # from standard-project
    assert rendered["jobs"]["FABRIKAM"]["FB-303"]["billable"] is False  # the row wins
    assert rendered["users"]["tom.becker@harbor-labs.example"]["employment_type"] == "Full-time"
    assert run("apply", ONBOARDING, "--yes").exit_code == 0
    assert run("plan", ONBOARDING, "--detailed-exitcode").exit_code == 0
