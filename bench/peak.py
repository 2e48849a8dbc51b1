"""Run `python bench/peak.py -m MODULE ARGS...` (or `SCRIPT ARGS...`) like `python -m`, and at exit
write this process's peak resident set size in MB to the file named by $BENCH_PEAK_FILE.

The peak is VmHWM from /proc/self/status, not ru_maxrss: Linux carries a parent's ru_maxrss over
fork + exec, so a child started by a large process reports at least the parent's size (the
benchmark's own process holds a 50k-object account), whereas VmHWM belongs to the new image.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path


def peak_rss_mb() -> float:
    """High-water resident set size of this process image (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    target = sys.argv[1:]
    sys.path[0] = os.getcwd()  # as `python -m` would have it, not bench/
    try:
        if target[:1] == ["-m"]:
            sys.argv = [target[1], *target[2:]]
            runpy.run_module(target[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = target
            runpy.run_path(target[0], run_name="__main__")
    finally:
        report = os.environ.get("BENCH_PEAK_FILE")
        if report:
            Path(report).write_text(f"{peak_rss_mb():.1f}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
