"""The invalid-configuration corpus: `reconciler validate` must print each case's problems exactly.

Each directory under corpus/invalid/ holds `config/` (the configuration), `expected.txt` (the
problem lines on stderr, in order, paths relative to the case directory) and, for a known bug,
`xfail.txt` saying what is wrong; expected.txt then holds the output the tool should give.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run

CORPUS = Path(__file__).parent / "corpus" / "invalid"
CASES = sorted(path for path in CORPUS.iterdir() if path.is_dir())


def marks(case: Path) -> list[pytest.MarkDecorator]:
    reason = case / "xfail.txt"
    if not reason.exists():
        return []
    return [pytest.mark.xfail(strict=True, reason=reason.read_text(encoding="utf-8").strip())]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name, marks=marks(case)) for case in CASES])
def test_invalid_configuration(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("RECONCILER_VAR_CORPUS_")]:
        monkeypatch.delenv(name)  # the corpus relies on RECONCILER_VAR_CORPUS_UNSET being unset
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(case)
    result = run("validate", "config")
    *problems, summary = result.stderr.splitlines() or [""]
    assert problems == (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert summary.startswith("Error: ") and result.exit_code == 1, result.stdout + result.stderr


def test_one_case_through_a_real_process() -> None:
    """The in-process runs above match what a user sees from the installed command."""
    case = CORPUS / "several-problems-at-once"
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUTF8": "1"}
    result = subprocess.run([sys.executable, "-m", "reconciler", "validate", "config"], cwd=case, env=env,
                            capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[:-1] == (case / "expected.txt").read_text(encoding="utf-8").splitlines()


def well_formed(case: Path) -> bool:
    expected = case / "expected.txt"
    lines = expected.read_text(encoding="utf-8").splitlines() if expected.is_file() else []
    return (case / "config").is_dir() and bool(lines) and all(line.startswith("config") for line in lines)


def test_every_case_has_a_configuration_and_expected_problems() -> None:
    assert [case.name for case in CASES if not well_formed(case)] == []


def test_corpus_has_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20
