"""The benchmarks' quick modes run end to end: a plan makes exactly the calls it should, far fewer than
one per job and list, and an apply writes each list in one request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_benchmark_plans_with_the_minimum_calls(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--json"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["plan"], result.stdout
    for plan in figures["plan"]:
        assert plan["calls"] == plan["minimum"], plan
        assert plan["client_calls"] == plan["calls"], plan
    assert figures["apply"] and all(a["writes"] == a["expected_writes"] for a in figures["apply"])
    assert "Plan of an account that already matches" in result.stdout


def test_call_counts_of_a_no_op_plan_and_an_onboarding_apply(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "calls.py"), "--quick", "--json"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for figures in json.loads(result.stdout.strip().splitlines()[-1]):
        # the plan reads assignments per task and per user: a quarter of one GET per job and list, or less
        assert figures["plan_calls"] * 4 <= figures["plan_per_job"], figures
        assert figures["plan_calls"] - figures["plan_minimum"] == 4, figures  # the cross-check: 2 jobs x 2 lists
        # every managed list is one write; the first PUT of each kind is read back
        assert figures["apply_calls"] == figures["apply_minimum"] + 2, figures
    assert "No-op plan" in result.stdout
