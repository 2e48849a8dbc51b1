"""Onboarding benchmark: 2,000 jobs from a spreadsheet through scaffold, validate and plan.

Prints the wall and CPU time of each step against the in-process sandbox (an account that
already holds the clients, tasks and users the jobs refer to), so the figures measure the
tool, not a network. Run: python bench/onboarding.py [--jobs 2000]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from reconciler.apply import Applier
from reconciler.clicktime.client import ClickTimeClient
from reconciler.config.loader import load_configuration
from reconciler.diff import build_plan
from reconciler.live import fetch_live
from reconciler.model import Kind
from reconciler.render import render
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.transport import SandboxTransport
from reconciler.scaffold import scaffold, write_scaffold

TEMPLATES = """
templates:
  standard-project:
    billable: true
    tasks: [DISC, BUILD, QA]
    users: [lead@bench.example, dev1@bench.example]
    project_manager: lead@bench.example
"""


def write_inputs(root: Path, jobs: int, clients: int) -> Path:
    config = root / "config"
    config.mkdir(parents=True)
    (config / "base.yaml").write_text(
        "clients:\n" + "".join(f"  C{i:03d}: {{name: Client {i}}}\n" for i in range(clients))
        + "tasks:\n  DISC: {name: Discovery}\n  BUILD: {name: Build}\n  QA: {name: Quality}\n"
        + "users:\n" + "".join(f"  {u}@bench.example: {{name: {u}}}\n" for u in ("lead", "dev1", "dev2"))
        + TEMPLATES)
    with (root / "projects.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Client", "Job Number", "Name", "Start Date", "Users"])
        for n in range(jobs):
            writer.writerow([f"C{n % clients:03d}", f"P-{n:05d}", f"Project {n}", "2026-01-05",
                             "lead@bench.example;dev2@bench.example" if n % 4 == 0 else ""])
    return config


def timed(label: str, figures: dict[str, float], function, *args):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    figures[f"{label}_wall_s"] = round(time.perf_counter() - wall, 3)
    figures[f"{label}_cpu_s"] = round(time.process_time() - cpu, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line too")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="onboarding-"))
    config = write_inputs(root, args.jobs, args.clients)
    figures: dict[str, float] = {"jobs": args.jobs}

    emulator = Emulator.open(str(root / "account.sqlite3"))
    client = ClickTimeClient(SandboxTransport(emulator))
    base = load_configuration(config)  # the account already has the clients, tasks and users
    live = fetch_live(client)
    Applier(client, live).apply(build_plan(base, live, "sandbox"))

    result = timed("scaffold", figures, scaffold, root / "projects.csv", Kind.JOB, "standard-project")
    write_scaffold(result, root / "projects.csv", config / "projects")
    loaded = timed("validate", figures, load_configuration, config)
    live = timed("read_account", figures, fetch_live, client,
                 {k: set(j.assignments) for k, j in loaded.desired.objects[Kind.JOB].items()})
    plan = timed("plan", figures, build_plan, loaded, live, "sandbox")
    text = timed("render", figures, render, plan, "text")
    figures["changes"] = len(plan.changes)
    figures["plan_text_kb"] = round(len(text) / 1024)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"Onboarding {args.jobs} jobs from CSV (in-process sandbox):")
    for step in ("scaffold", "validate", "read_account", "plan", "render"):
        print(f"  {step:<13} {figures[step + '_wall_s']:>7.2f} s wall  {figures[step + '_cpu_s']:>7.2f} s CPU")
    print(f"  {figures['changes']} changes planned; peak memory {figures['peak_rss_mb']} MB")
    if args.json:
        print(json.dumps(figures))
    emulator.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
