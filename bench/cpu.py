"""CPU cost of a plan without the network: load + schema checks, live state, diff, render.

The parent records an emulator account to a JSON file (records as the API returns them, the
company, the caller, and every job's assignment IDs). A child process (`python bench/cpu.py
--config DIR --live FILE`) then runs the CLI's plan pipeline on it, timing each phase with
time.process_time (all threads of the child), and reports its peak RSS (VmHWM): the
recording itself is in memory too, and `baseline_rss_mb` says how much that was.

The live phase runs reconciler.live.fetch_live over `RecordedClient`, which answers from the
recording in memory: the same code path as over the network, minus the requests. Live and diff
run inside reconciler.perf.kept_alive, as in engine.read_and_plan (what is alive before them,
the configuration and here the recording too, is out of the garbage collector's sight).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.clicktime.client import ClickTimeClient
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.transport import SandboxTransport

COLLECTIONS = ("Clients", "Tasks", "Users", "Jobs")


# -- parent side ------------------------------------------------------------------------------
def record_account(emulator: Emulator, path: Path) -> None:
    """Write what a full read of the account returns to `path` (JSON)."""
    client = ClickTimeClient(SandboxTransport(emulator))  # not closed: that would close the emulator
    records = {collection: client.list_all(collection) for collection in COLLECTIONS}
    assigned = {job["ID"]: {sub: emulator.store.assigned(job["ID"], sub) for sub in ("Tasks", "Users")}
                for job in records["Jobs"]}
    recording = {"company": client.company(), "me": client.me(), "records": records, "assigned": assigned}
    path.write_text(json.dumps(recording), encoding="utf-8")


# -- child side -------------------------------------------------------------------------------
class RecordedClient:
    """The part of ClickTimeClient that fetch_live uses, answered from a recording."""

    concurrency = 4
    page_size = 1000

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.calls = 0
        self._jobs_of: dict[str, dict[str, list[str]]] = {"Tasks": {}, "Users": {}}
        for job_id, lists in recording["assigned"].items():  # what the reverse reads answer
            for name, targets in lists.items():
                for target in targets:
                    self._jobs_of[name].setdefault(target, []).append(job_id)

    def company(self) -> dict[str, Any]:
        return self.recording["company"]

    def me(self) -> dict[str, Any]:
        return self.recording["me"]

    def list_all(self, collection: str, filters: Any = (), include_inactive: bool = True) -> list[dict[str, Any]]:
        return [dict(record) for record in self.recording["records"].get(collection, [])]

    def list_pages(self, collection: str, query: Any = (), keyed: bool = True) -> list[dict[str, Any]]:
        return []

    def assigned_ids(self, job_id: str, sub: str) -> list[str]:
        self.calls += 1
        return list(self.recording["assigned"].get(job_id, {}).get(sub, []))

    def task_job_ids(self, task_id: str) -> list[str]:
        self.calls += 1
        return list(self._jobs_of["Tasks"].get(task_id, []))

    def user_job_ids(self, user_id: str, active: bool) -> list[str]:
        self.calls += 1
        return list(self._jobs_of["Users"].get(user_id, []))  # every recorded job is active


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    """VmHWM: unlike ru_maxrss, not inherited from the parent across fork + exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_pipeline(config_dir: Path, recording: dict[str, Any]) -> dict[str, Any]:
    from reconciler.config.loader import load_configuration
    from reconciler.diff import build_plan
    from reconciler.engine import assignments_needed, kinds_needed
    from reconciler.live import fetch_live
    from reconciler.model import Kind
    from reconciler.perf import kept_alive
    from reconciler.render import render

    phases: dict[str, float] = {}

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        start = time.process_time()
        yield
        phases[name] = time.process_time() - start

    baseline = _rss_mb()
    with phase("load"):
        config = load_configuration(config_dir)
    with kept_alive():  # as engine.read_and_plan has it
        with phase("live"):
            declared = {key: job.assignments for key, job in config.desired.objects[Kind.JOB].items()}
            live = fetch_live(RecordedClient(recording), assignments_needed(config),  # type: ignore[arg-type]
                              kinds=kinds_needed(config), declared=declared)
        with phase("diff"):
            plan = build_plan(config, live, "clicktime")
    with phase("render"):
        text = render(plan, "text")
    return {"phases": phases, "cpu_total": sum(phases.values()), "changes": len(plan.changes),
            "rendered_chars": len(text), "baseline_rss_mb": baseline, "peak_rss_mb": _peak_rss_mb()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--live", type=Path, required=True)
    args = parser.parse_args(argv)
    recording = json.loads(args.live.read_text(encoding="utf-8"))
    print(json.dumps(run_pipeline(args.config, recording)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
