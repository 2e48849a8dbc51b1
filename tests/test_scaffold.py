"""CSV to YAML: header mapping, clear errors with row numbers, and the onboarding example."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, run

import reconciler.scaffold as scaffold_module
from reconciler.errors import ConfigError
from reconciler.model import Kind
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.profiles import load_profile
from reconciler.scaffold import ScaffoldResult, scaffold, write_scaffold

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


def test_onboarding_example_matches_its_csv_and_plans(tmp_path: Path, sandbox_path: Path,
                                                      emulator: Emulator) -> None:
    emulator.reset(load_profile("corporate-bills-by-job"))  # the profile the example names
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


# -- hostile spreadsheets ----------------------------------------------------------------------

def scaffolded(tmp_path: Path, text: str, kind: Kind = Kind.JOB, newline: str = "") -> tuple[ScaffoldResult, dict]:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_bytes(text.encode("utf-8"))
    result = scaffold(csv_file, kind)
    written = write_scaffold(result, csv_file, tmp_path / "out")
    return result, yaml.safe_load(written.read_text(encoding="utf-8"))


def test_rows_split_only_at_csv_line_ends(tmp_path: Path) -> None:
    """A record or line separator inside a cell is text, never the start of a row."""
    _, document = scaffolded(tmp_path, "Client,Job Number,Name\r\n"
                                       'ACME,J-1,"Web\u2028ACME,J-666,evil"\r\n'
                                       'ACME,J-2,"App\x1eACME,J-667,evil\x85x"\r\n')
    assert sorted(document["jobs"]["ACME"]) == ["J-1", "J-2"]
    assert document["jobs"]["ACME"]["J-1"]["name"] == "Web\u2028ACME,J-666,evil"
    assert document["jobs"]["ACME"]["J-2"]["name"] == "App\x1eACME,J-667,evil\x85x"


def test_quoted_multi_line_cells_keep_their_line_breaks(tmp_path: Path) -> None:
    result, document = scaffolded(tmp_path, 'Client,Job Number,Name,Notes\r\n'
                                            'ACME,J-1,Web,"first line\r\nsecond line\nthird"\r\n'
                                            'ACME,J-2,App,plain\r\n')
    assert document["jobs"]["ACME"]["J-1"]["notes"] == "first line\nsecond line\nthird"
    assert document["jobs"]["ACME"]["J-2"] == {"name": "App", "notes": "plain"}
    assert result.count == 2
    text = (tmp_path / "out" / "rows.yaml").read_text(encoding="utf-8")
    assert "notes: |-\n        first line\n        second line\n        third\n" in text


def test_problems_name_the_row_where_a_multi_line_record_starts(tmp_path: Path) -> None:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text('Client,Job Number,Name,Billable\nACME,J-1,"two\nlines",yes\nACME,J-2,x,perhaps\n',
                        encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        scaffold(csv_file, Kind.JOB)
    assert [str(p) for p in raised.value.problems] == [
        f"{csv_file}:4:4: billable: 'perhaps' is not yes/no or true/false"]


def test_formula_cells_are_warned_about_with_row_and_column(tmp_path: Path) -> None:
    result, document = scaffolded(tmp_path, 'Client,Job Number,Name,Notes\n'
                                            'ACME,J-1,"=HYPERLINK(""https://evil.test"",""x"")",-5\n'
                                            'ACME,J-2,+cmd,@SUM(A1)\n'
                                            'ACME,J-3,-rm,ok\n')
    csv_file = tmp_path / "rows.csv"
    assert [str(w) for w in result.warnings] == [
        f"{csv_file}:2:3: name starts with '=': a spreadsheet runs it as a formula if the value is exported "
        "and opened again; make sure it is meant as text",
        f"{csv_file}:3:3: name starts with '+': a spreadsheet runs it as a formula if the value is exported "
        "and opened again; make sure it is meant as text",
        f"{csv_file}:3:4: notes starts with '@': a spreadsheet runs it as a formula if the value is exported "
        "and opened again; make sure it is meant as text",
        f"{csv_file}:4:3: name starts with '-': a spreadsheet runs it as a formula if the value is exported "
        "and opened again; make sure it is meant as text",
    ]
    assert document["jobs"]["ACME"]["J-1"]["notes"] == "-5"  # a number is not a formula


def test_invisible_characters_in_key_cells_are_refused(tmp_path: Path) -> None:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("Client,Job Number,Name\nACME,J\u200b1,Web\nAC\u202eME,J-2,App\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        scaffold(csv_file, Kind.JOB)
    assert [str(p) for p in raised.value.problems] == [
        f"{csv_file}:2:2: job_number 'J\\u200b1' contains U+200B ZERO WIDTH SPACE, which is invisible or "
        "a control character; keys must be plainly visible text",
        f"{csv_file}:3:1: client 'AC\\u202eME' contains U+202E RIGHT-TO-LEFT OVERRIDE, which is invisible or "
        "a control character; keys must be plainly visible text",
    ]


def test_yaml_is_written_with_libyaml_when_present() -> None:
    assert issubclass(scaffold_module.Dumper, getattr(yaml, "CSafeDumper", yaml.SafeDumper))
