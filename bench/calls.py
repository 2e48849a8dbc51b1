"""API calls of a no-op plan and of an onboarding apply, against what the tool would send reading
and writing assignments one by one, and against the fewest calls either direction allows.

    python bench/calls.py [--sizes 1000,10000,50000] [--quick] [--json]

For each synthetic account (bench/synth.py; plus the 750-job account of 30 tasks and 200 users)
the real pipeline runs in-process against the emulator (engine.read_and_plan, then Applier, over
the sandbox transport; no network, so only the counts mean anything here):

onboarding   `apply` into an empty account: every object new, every job with its task and user
             lists. "one by one" = the same reads + one POST per object + one POST per assignment.
             "minimum" = the same reads + one POST per object + one write per managed list.
no-op plan   `plan` of the account that apply left (it must plan no change). "per job" = the
             reads that are not about assignments + one GET per managed list (what every plan
             sent before reverse reads). "minimum" = the same + for each relationship the cheaper
             of one GET per managed job and the reverse reads (one GET /Tasks/{id}/Jobs per task;
             one GET /Jobs?UserID= per user and IsActive value, plus the pages beyond the first),
             without the cross-check, which costs CROSS_CHECK_JOBS per-job reads per relationship.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import synth  # noqa: E402

from reconciler import engine  # noqa: E402
from reconciler.apply import Applier  # noqa: E402
from reconciler.clicktime.client import ClickTimeClient  # noqa: E402
from reconciler.clicktime.transport import Request, Response, Transport  # noqa: E402
from reconciler.config.loader import load_configuration  # noqa: E402
from reconciler.live import CROSS_CHECK_JOBS  # noqa: E402
from reconciler.sandbox.emulator import Emulator  # noqa: E402
from reconciler.sandbox.server import ID_SEGMENT  # noqa: E402
from reconciler.sandbox.store import Store  # noqa: E402
from reconciler.sandbox.transport import SandboxTransport  # noqa: E402

# The account of the performance goal: 750 jobs, each managing its task and user lists.
GOAL_ACCOUNT = synth.Counts(clients=25, tasks=30, users=200, jobs=750)
ASSIGNMENT_ROUTES = ("/Jobs/{id}/Tasks", "/Jobs/{id}/Users", "/Tasks/{id}/Jobs")


class CountingTransport:
    """Counts requests by route (IDs as {id}; a job list filtered by UserID as its own route)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.routes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def send(self, request: Request) -> Response:
        route = f"{request.method} {ID_SEGMENT.sub('/{id}', request.path)}"
        if any(name == "UserID" for name, _ in request.query):
            route += "?UserID"
        with self._lock:
            self.routes[route] += 1
        return self.inner.send(request)

    def close(self) -> None:
        pass  # the emulator outlives each client

    def take(self) -> Counter[str]:
        with self._lock:
            taken, self.routes = self.routes, Counter()
        return taken


def is_assignment(route: str) -> bool:
    return route.endswith("?UserID") or any(route.split(" ", 1)[1].startswith(r) for r in ASSIGNMENT_ROUTES)


def assignment_reads(account: synth.Account, page_size: int) -> tuple[int, int]:
    """(assignment reads of a no-op plan of `account`, the fewest either direction allows). Every
    job of a synthetic account is active and manages both lists. The emulator's account also
    holds the nine default tasks and the owner, which reverse reads cover too."""
    jobs_of = Counter(email for job in account.jobs for email in job.assignments["users"])
    jobs = account.counts.jobs
    # one reverse read per task; per user, one page per page_size of its jobs (at least one)
    reverse = {"tasks": account.counts.tasks + 9,
               "users": 1 + sum(max(1, math.ceil(jobs_of[u.key[0]] / page_size)) for u in account.users)}
    # the tool decides on an estimate: one read per user plus the pages all declared members fill
    estimate = {"tasks": reverse["tasks"], "users": account.counts.users + 1 + sum(jobs_of.values()) // page_size}
    made = sum(reverse[n] + CROSS_CHECK_JOBS if estimate[n] + CROSS_CHECK_JOBS < jobs else jobs for n in reverse)
    return made, sum(min(jobs, reverse[n]) for n in reverse)


@dataclass
class Figures:
    account: str
    objects: int
    tasks: int
    users: int
    jobs: int
    assignments: int
    managed_lists: int
    apply_calls: int
    apply_one_by_one: int
    apply_minimum: int
    apply_s: float
    plan_calls: int
    plan_per_job: int
    plan_minimum: int
    plan_assignment_reads: dict[str, int]
    plan_s: float


def measure(name: str, account: synth.Account, workdir: Path) -> Figures:
    config_dir = workdir / f"config-{name}"
    synth.write_config(account, config_dir)
    config = load_configuration(config_dir)
    emulator = Emulator(Store(":memory:"))
    counting = CountingTransport(SandboxTransport(emulator))
    client = ClickTimeClient(counting)
    start = time.perf_counter()
    plan, live = engine.read_and_plan(config, client, "sandbox")
    Applier(client, live).apply(plan)
    apply_s = time.perf_counter() - start
    applied = counting.take()
    apply_reads = sum(n for route, n in applied.items() if route.startswith("GET ") and not is_assignment(route))
    start = time.perf_counter()
    again, _ = engine.read_and_plan(config, ClickTimeClient(counting), "sandbox")
    plan_s = time.perf_counter() - start
    if not again.empty:
        raise RuntimeError(f"{name}: the plan after apply is not empty ({len(again.changes)} changes)")
    planned = counting.take()
    base = sum(n for route, n in planned.items() if not is_assignment(route))
    counts = account.counts
    expected, fewest = assignment_reads(account, client.page_size)
    if sum(n for route, n in planned.items() if is_assignment(route)) != expected:
        raise RuntimeError(f"{name}: the plan read assignments with {planned}, expected {expected} calls")
    minimum = base + fewest
    emulator.close()
    return Figures(
        account=name, objects=counts.total, tasks=counts.tasks, users=counts.users, jobs=counts.jobs,
        assignments=account.assignment_count, managed_lists=account.managed_lists,
        apply_calls=sum(applied.values()), apply_one_by_one=apply_reads + account.writes_one_by_one,
        apply_minimum=apply_reads + account.writes_to_create, apply_s=apply_s,
        plan_calls=sum(planned.values()), plan_per_job=base + account.managed_lists, plan_minimum=minimum,
        plan_assignment_reads={r: n for r, n in sorted(planned.items()) if is_assignment(r)}, plan_s=plan_s)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("  " + line for line in lines)


def report(figures: list[Figures]) -> str:
    plan = table(["account", "objects", "managed lists", "calls", "per job", "ours/per job", "minimum",
                  "above minimum"],
                 [[f.account, f"{f.objects:,}", f"{f.managed_lists:,}", f"{f.plan_calls:,}", f"{f.plan_per_job:,}",
                   f"{f.plan_calls / f.plan_per_job:.2f}", f"{f.plan_minimum:,}", f.plan_calls - f.plan_minimum]
                  for f in figures])
    apply = table(["account", "objects", "assignments", "calls", "one by one", "ours/one by one", "minimum",
                   "above minimum"],
                  [[f.account, f"{f.objects:,}", f"{f.assignments:,}", f"{f.apply_calls:,}",
                    f"{f.apply_one_by_one:,}", f"{f.apply_calls / f.apply_one_by_one:.2f}", f"{f.apply_minimum:,}",
                    f.apply_calls - f.apply_minimum] for f in figures])
    return (f"No-op plan (cross-check: {CROSS_CHECK_JOBS} jobs per relationship read both ways)\n{plan}\n\n"
            f"Onboarding apply into an empty account\n{apply}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="object counts (default 1000,10000,50000)")
    parser.add_argument("--quick", action="store_true", help="200 objects only, for CI")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of every figure")
    args = parser.parse_args(argv)
    sizes = [200] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    accounts = [] if args.quick else [("750 jobs", synth.make_account(GOAL_ACCOUNT.total, counts=GOAL_ACCOUNT))]
    accounts += [(f"{n:,}", synth.make_account(n)) for n in sizes]
    figures = []
    with tempfile.TemporaryDirectory(prefix="reconciler-calls-") as workdir:
        for name, account in accounts:
            print(f"[calls] {name}: apply then plan", file=sys.stderr, flush=True)
            figures.append(measure(name, account, Path(workdir)))
    print(report(figures), end="")
    if args.json:
        print(json.dumps([asdict(f) for f in figures]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
