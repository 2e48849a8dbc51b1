"""Plan and apply through a Membrane CLI stand-in written in Node (bench/membrane-standin.js):
every request is a Node process, as with the real CLI, forwarded to the emulator's HTTP server.

    python bench/membrane.py [--concurrency 4] [--startup-ms 300] [--hop-ms 150] [--parts plan,apply,per-job]

The account is the one of the performance goal (bench/calls.py GOAL_ACCOUNT: 750 jobs, each
managing its task and user lists, 30 tasks, 200 users, 25 clients: about 1,000 objects).

plan      `reconciler plan DIR --detailed-exitcode --backend membrane` of the account already
          matching DIR (must exit 0): wall seconds of the child, calls the server counted.
per-job   the same plan with assignment lists read one job at a time, as before reverse reads
          (the child sets reconciler.live.CROSS_CHECK_JOBS so high that no reverse read is ever
          cheaper): what the same machine, in the same run, takes the old way.
apply     `reconciler apply DIR --yes --backend membrane` of the same configuration into an empty
          account: every object created, every list written.
startup   one `membrane-standin.js --version` alone: what each call costs before any request.

The stand-in's start-up (--startup-ms of processor time, Node's own boot included) and its hop
(--hop-ms added to each answer, for the trip through Membrane to ClickTime) are printed with the
figures: the real CLI's start-up measured elsewhere is about 0.4-0.6 s a call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import synth  # noqa: E402
from calls import GOAL_ACCOUNT  # noqa: E402
from harness import TOKEN, fresh_emulator, server_stats, serving  # noqa: E402

from reconciler.sandbox.server import EmulatorServer, Knobs  # noqa: E402

STANDIN = BENCH / "membrane-standin.js"
PER_JOB = ("import sys; import reconciler.live as live; live.CROSS_CHECK_JOBS = 10 ** 9; "
           "from reconciler.cli import main; sys.exit(main(sys.argv[1:]))")


def env_for(server: EmulatorServer, opts: argparse.Namespace, state: Path) -> dict[str, str]:
    return {**os.environ, "RECONCILER_BACKEND": "membrane", "MEMBRANE_BIN": str(STANDIN),
            "MEMBRANE_CONNECTION_ID": "con_standin", "MEMBRANE_CLICKTIME_PATH_PREFIX": "",
            "STANDIN_API_URL": server.url, "STANDIN_TOKEN": TOKEN, "STANDIN_STARTUP_MS": str(opts.startup_ms),
            "STANDIN_HOP_MS": str(opts.hop_ms), "RECONCILER_STATE_DIR": str(state), "NO_COLOR": "1"}


def timed_child(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {done.returncode}:\n{done.stderr[-2000:]}")
    return wall, done.stdout + done.stderr


def startup_seconds(env: dict[str, str], runs: int = 5) -> float:
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(STANDIN), "--version"], env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
    return sorted(walls)[len(walls) // 2]


def counted(server: EmulatorServer, argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Run the child; its wall seconds and the calls the server answered meanwhile."""
    before = server_stats(server)["total"]
    wall, _ = timed_child(argv, env, cwd)
    return {"calls": server_stats(server)["total"] - before, "wall_s": round(wall, 1)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4, help="the tool's --concurrency (default 4, its default)")
    parser.add_argument("--startup-ms", type=int, default=300, help="stand-in start-up, CPU ms (default 300)")
    parser.add_argument("--hop-ms", type=int, default=150, help="stand-in answer delay, ms (default 150)")
    parser.add_argument("--parts", default="plan,apply,per-job", help="plan, per-job and/or apply")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args(argv)
    parts = {p.strip() for p in opts.parts.split(",")}
    if not shutil.which("node"):
        print("bench/membrane.py needs node on PATH", file=sys.stderr)
        return 1
    account = synth.make_account(GOAL_ACCOUNT.total, counts=GOAL_ACCOUNT)
    figures: dict[str, object] = {"concurrency": opts.concurrency, "startup_ms": opts.startup_ms,
                                  "hop_ms": opts.hop_ms, "jobs": GOAL_ACCOUNT.jobs,
                                  "objects": GOAL_ACCOUNT.total}
    with tempfile.TemporaryDirectory(prefix="reconciler-membrane-") as tmp:
        work = Path(tmp)
        config = work / "config"
        synth.write_config(account, config)
        flags = ["--concurrency", str(opts.concurrency)]
        python = [sys.executable, "-m", "reconciler"]
        if parts & {"plan", "per-job"}:
            emulator = fresh_emulator(work / "matching.sqlite3")
            synth.populate(emulator, account)
            with serving(emulator, Knobs(token=TOKEN)) as server:
                env = env_for(server, opts, work / "state")
                figures["standin_call_s"] = startup_seconds(env)
                if "plan" in parts:
                    print("[membrane] no-op plan", file=sys.stderr, flush=True)
                    figures["plan"] = counted(server, [*python, "plan", str(config), "--detailed-exitcode", *flags],
                                              env, work)
                if "per-job" in parts:
                    print("[membrane] no-op plan, one job at a time", file=sys.stderr, flush=True)
                    figures["plan_per_job"] = counted(server, [sys.executable, "-c", PER_JOB, "plan", str(config),
                                                               "--detailed-exitcode", *flags], env, work)
            emulator.close()
        if "apply" in parts:
            emulator = fresh_emulator(work / "empty.sqlite3")
            with serving(emulator, Knobs(token=TOKEN)) as server:
                env = env_for(server, opts, work / "state")
                print("[membrane] onboarding apply", file=sys.stderr, flush=True)
                figures["apply"] = counted(server, [*python, "apply", str(config), "--yes", *flags], env, work)
            emulator.close()
    print(report(figures))
    if opts.json:
        print(json.dumps(figures))
    return 0


def report(figures: dict[str, object]) -> str:
    lines = [f"Through the Node stand-in of Membrane's CLI, --concurrency {figures['concurrency']}: "
             f"{figures['objects']:,} objects, {figures['jobs']} jobs; stand-in start-up "
             f"{figures['startup_ms']} ms CPU, hop {figures['hop_ms']} ms"]
    if "standin_call_s" in figures:
        lines.append(f"  one stand-in call alone (--version): {figures['standin_call_s']:.2f} s wall")
    for name, label in (("plan", "no-op plan"), ("plan_per_job", "no-op plan, one job at a time (before)"),
                        ("apply", "onboarding apply (every object new)")):
        found = figures.get(name)
        if isinstance(found, dict):
            lines.append(f"  {label}: {found['calls']:,} calls, {found['wall_s']:.1f} s wall, "
                         f"{found['wall_s'] / max(1, found['calls']):.2f} s a call")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
