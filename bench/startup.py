"""Start-up: `reconciler validate examples/agency` against `python -c "import yaml, click"` (the
two libraries any such command needs), run in turn A B A B ..., each as a whole process.

    python bench/startup.py [--runs 15] [--config examples/agency]

Each run's CPU seconds (user + system, from os.wait4) and wall seconds are taken; the figures are
the medians, and the ratio is the median of the pairwise ratios A/B, so that a machine whose
speed drifts during the run still compares like with like. The package is byte-compiled first,
as an installed wheel is (PYTHONDONTWRITEBYTECODE would otherwise make every run compile it).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL = 1.5


def run_once(argv: list[str]) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of one run of argv, which must exit 0."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed")
    return usage.ru_utime + usage.ru_stime, wall


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--config", default="examples/agency")
    opts = parser.parse_args(argv)
    compileall.compile_dir(str(REPO / "reconciler"), quiet=1)
    script = shutil.which("reconciler")
    ours = [script] if script else [sys.executable, "-m", "reconciler"]
    ours += ["validate", opts.config]
    baseline = [sys.executable, "-c", "import yaml, click"]
    run_once(ours), run_once(baseline)  # warm the file cache
    a, b = [], []
    for _ in range(opts.runs):
        a.append(run_once(ours))
        b.append(run_once(baseline))
    cpu_ratio = statistics.median(x[0] / y[0] for x, y in zip(a, b, strict=True))
    wall_ratio = statistics.median(x[1] / y[1] for x, y in zip(a, b, strict=True))
    print(f"{' '.join(ours[-3:] if script else ours[2:])} vs python -c 'import yaml, click', {opts.runs} pairs:")
    for name, runs in (("ours", a), ("yaml+click", b)):
        print(f"  {name:<10} cpu {statistics.median(r[0] for r in runs):.3f} s  "
              f"wall {statistics.median(r[1] for r in runs):.3f} s (medians)")
    print(f"  ratio (median of pairs): cpu {cpu_ratio:.2f}x, wall {wall_ratio:.2f}x; goal at most {GOAL}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
