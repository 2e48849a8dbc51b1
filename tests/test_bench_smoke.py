"""The benchmark's quick mode runs end to end, and a plan makes exactly the minimum API calls."""

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
