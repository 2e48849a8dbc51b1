"""Benchmark of clicktime-reconciler against its ClickTime emulator.

    python bench/run.py [--sizes 1000,10000,50000] [--latency-ms 20] [--rate-limit 200] [--quick] [--json]

Everything runs on this machine: the emulator's HTTP server (reconciler.sandbox.server) is started
in this process, in a thread, on 127.0.0.1 with the given latency, page size and rate limit, and
the reconciler runs as a child process (`python -m reconciler ... --backend clicktime`, i.e. the
real CLI over HTTP), so client and server do not share a GIL and the child's peak memory is its
own. Synthetic accounts come from bench/synth.py (N objects over the four kinds, every job
managing 2-3 tasks and 2-4 users); populating the emulator is timed apart and never counted.

What each figure means:

setup        objects per kind, job assignments, YAML files, and the seconds spent writing the
             objects straight into the emulator in-process (not part of any figure below).
plan         `reconciler plan DIR` of an account that already matches DIR (the plan must say
             "No changes"; the run fails otherwise). calls = requests the server counted
             (GET /_emulator/stats before and after; "client says" is the CLI's own count).
             minimum = sum over clients, tasks, users, jobs of ceil(active records / page size)
             + ceil(inactive records / page size) (one read each: a repeated query key does
             not survive every transport) + 2 (GET /Company, GET /Me) + 4 (custom-field
             definitions of each declared kind) + the assignment reads: per relationship (job
             tasks, job users) one GET per managed job, or, where that is fewer, one GET per task
             (/Tasks/{id}/Jobs) or per user (/Jobs?UserID=) plus the cross-check's per-job reads
             (bench/calls.py: assignment_reads).
             wall = the child's wall seconds (start-up, YAML, HTTP, diff, render); http = first
             to last answer at the server, calls/s = calls / http; cpu = the child's user +
             system seconds; server cpu = this process's CPU meanwhile (the server threads);
             peak = the child's peak RSS (VmHWM, see bench/peak.py). The server has no rate
             limit here unless --plan-rate-limit is given (the client then gets the same
             --rate-limit); calls/R is the floor that a rate limit R puts on the HTTP time.
naive read   what a hand-written script would do to refresh the same state: one GET per object
             by ID plus one GET per assignment list, one at a time on one kept-alive connection.
             Only --naive-sample calls (spread over the kinds) are sent; the wall time is
             per-call time x calls ("~" marks an extrapolation). It loads no YAML and diffs
             nothing, so naive/ours understates the gap.
cpu          load + schema checks, live state (fetch_live answered from an in-memory recording of
             the account), diff (build_plan) and render (text) for --cpu-size objects, no network,
             in a child process: time.process_time per phase; peak RSS of that child (which also
             holds the recording: baseline). "steady" = the account already matches (no changes);
             "initial" = an empty account (every object and assignment is a change). Targets:
             under 5 s CPU, under 500 MB.
apply        `reconciler apply DIR --yes` of N objects into an empty account, with the server
             limited to R requests/s (429 + Retry-After beyond one second of burst) and the client
             at --rate-limit R --concurrency C. writes = successful POSTs and PUTs the server
             answered (one per object, one PUT per job's task or user list);
             writes/s = (writes - 1) / (last write - first write), at the server; of R = that / R
             (target >= 90%; reads share the same budget; the burst can push it a little over
             100% on short runs). 429s = requests the server's rate limit refused.
naive apply  the same creates one POST at a time on one connection; naive/ours compares wall
             times for the same N measured in this run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import calls  # noqa: E402
import cpu  # noqa: E402
import naive  # noqa: E402
import synth  # noqa: E402
from harness import (  # noqa: E402
    TOKEN,
    RecordingEmulator,
    cli,
    fresh_emulator,
    http_env,
    run_child,
    server_stats,
    serving,
    stats_delta,
)

from reconciler.clicktime.assumptions import REQUESTED_PAGE_SIZE  # noqa: E402
from reconciler.clicktime.client import ClickTimeClient  # noqa: E402
from reconciler.sandbox.emulator import Emulator  # noqa: E402
from reconciler.sandbox.server import Knobs  # noqa: E402
from reconciler.sandbox.store import Store  # noqa: E402
from reconciler.sandbox.transport import SandboxTransport  # noqa: E402

CPU_TARGET_S = 5.0
RSS_TARGET_MB = 500.0
RATE_TARGET = 0.90
PARTS = ("plan", "cpu", "apply")

FULL = {"sizes": [1000, 10000, 50000], "latency_ms": 20.0, "apply_sizes": [200, 1000], "naive_apply_size": 200,
        "naive_sample": 400}
QUICK = {"sizes": [200], "latency_ms": 2.0, "apply_sizes": [100], "naive_apply_size": 100, "naive_sample": 100_000}


# -- options ----------------------------------------------------------------------------------
@dataclass
class Options:
    sizes: list[int]
    latency_ms: float
    rate_limit: float
    max_page_size: int
    plan_concurrency: int
    plan_rate_limit: float | None
    concurrency: int
    apply_sizes: list[int]
    naive_apply_size: int
    naive_sample: int
    cpu_size: int
    seed: int
    parts: frozenset[str]
    quick: bool
    json: bool
    workdir: Path | None

    @property
    def page_size(self) -> int:
        return min(REQUESTED_PAGE_SIZE, self.max_page_size)


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="Benchmark clicktime-reconciler against its emulator.")
    parser.add_argument("--sizes", type=_sizes, help="object counts to plan (default 1000,10000,50000)")
    parser.add_argument("--latency-ms", type=float, help="server latency per request (default 20; --quick 2)")
    parser.add_argument("--rate-limit", type=float, default=200.0, help="R: server and client rate for apply")
    parser.add_argument("--max-page-size", type=int, default=1000, help="largest page the server grants")
    parser.add_argument("--plan-concurrency", type=int, default=16, help="--concurrency of the plan runs")
    parser.add_argument("--plan-rate-limit", type=float, default=None, help="server rate limit for plan runs")
    parser.add_argument("--concurrency", type=int, default=8, help="--concurrency of the apply runs")
    parser.add_argument("--apply-sizes", type=_sizes, help="object counts to apply (default 200,1000)")
    parser.add_argument("--naive-apply-size", type=int, help="object count of the naive apply (default 200)")
    parser.add_argument("--naive-sample", type=int, help="naive refresh calls actually sent per size (default 400)")
    parser.add_argument("--cpu-size", type=int, help="object count of the CPU-only run (default: largest size)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which parts to run (default {','.join(PARTS)})")
    parser.add_argument("--quick", action="store_true", help="small and fast, for CI (200 objects, 2 ms)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of every figure")
    parser.add_argument("--workdir", type=Path, help="keep generated files here (default: a temporary dir)")
    args = parser.parse_args(argv)
    parts = frozenset(part.strip() for part in args.parts.split(",") if part.strip())
    if parts - set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(parts - set(PARTS)))}; known: {', '.join(PARTS)}")
    preset = QUICK if args.quick else FULL
    sizes = args.sizes or preset["sizes"]
    return Options(
        sizes=sizes, latency_ms=args.latency_ms if args.latency_ms is not None else preset["latency_ms"],
        rate_limit=args.rate_limit, max_page_size=args.max_page_size, plan_concurrency=args.plan_concurrency,
        plan_rate_limit=args.plan_rate_limit, concurrency=args.concurrency,
        apply_sizes=args.apply_sizes if args.apply_sizes is not None else preset["apply_sizes"],
        naive_apply_size=_given(args.naive_apply_size, preset["naive_apply_size"]),
        naive_sample=_given(args.naive_sample, preset["naive_sample"]), cpu_size=args.cpu_size or max(sizes),
        seed=args.seed, parts=parts, quick=args.quick, json=args.json, workdir=args.workdir,
    )


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- figures ----------------------------------------------------------------------------------
@dataclass
class Setup:
    n: int
    clients: int
    tasks: int
    users: int
    jobs: int
    assignments: int
    files: int
    populate_s: float


@dataclass
class PlanFigures:
    n: int
    calls: int
    client_calls: int | None
    minimum: int
    list_calls: int
    assignment_calls: int
    wall_s: float
    http_s: float
    cpu_s: float
    server_cpu_s: float
    peak_rss_mb: float
    naive_calls: int
    naive_timed_calls: int
    naive_wall_s: float
    naive_extrapolated: bool
    calls_by_route: dict[str, int] = field(default_factory=dict)


@dataclass
class CpuFigures:
    scenario: str
    n: int
    changes: int
    phases: dict[str, float]
    cpu_total_s: float
    baseline_rss_mb: float
    peak_rss_mb: float


@dataclass
class ApplyFigures:
    n: int
    writes: int
    expected_writes: int
    calls: int
    rejected_429: int
    wall_s: float
    write_phase_s: float
    writes_per_s: float
    ratio_to_r: float
    peak_rss_mb: float


@dataclass
class NaiveApplyFigures:
    n: int
    writes: int
    wall_s: float
    writes_per_s: float


@dataclass
class Results:
    setup: list[Setup] = field(default_factory=list)
    plan: list[PlanFigures] = field(default_factory=list)
    cpu: list[CpuFigures] = field(default_factory=list)
    apply: list[ApplyFigures] = field(default_factory=list)
    naive_apply: NaiveApplyFigures | None = None


# -- accounts ---------------------------------------------------------------------------------
@dataclass
class Prepared:
    account: synth.Account
    config_dir: Path
    emulator: RecordingEmulator
    ids: dict[Any, dict[Any, str]]


def prepare(n: int, opts: Options, workdir: Path, results: Results) -> Prepared:
    """Write the configuration and an emulator account that already matches it."""
    account = synth.make_account(n, opts.seed)
    config_dir = workdir / f"config-{n}"
    files = synth.write_config(account, config_dir)
    emulator = fresh_emulator(workdir / f"account-{n}.sqlite3")
    progress(f"populating an emulator account with {n:,} objects and {account.assignment_count:,} assignments")
    start = time.perf_counter()
    ids = synth.populate(emulator, account)
    c = account.counts
    results.setup.append(Setup(n, c.clients, c.tasks, c.users, c.jobs, account.assignment_count, len(files),
                               time.perf_counter() - start))
    return Prepared(account, config_dir, emulator, ids)


def minimum_calls(emulator: Emulator, account: synth.Account, page_size: int) -> tuple[int, int]:
    """(list calls, assignment calls) a complete plan cannot do without; see the docstring."""
    reader = ClickTimeClient(SandboxTransport(emulator))  # not closed: that would close the emulator
    lists = sum(max(1, math.ceil(len(reader.list_pages(c, [("IsActive", active)])) / page_size))
                for c in cpu.COLLECTIONS for active in ("true", "false"))
    # + GET /Company and /Me, + one custom-field definitions read per kind the configuration declares
    return lists + 2 + len(cpu.COLLECTIONS), calls.assignment_reads(account, page_size)[0]


# -- plan -------------------------------------------------------------------------------------
def bench_plan(prepared: Prepared, opts: Options, workdir: Path) -> PlanFigures:
    n = prepared.account.counts.total
    knobs = Knobs(latency_ms=opts.latency_ms, rate_limit=opts.plan_rate_limit, max_page_size=opts.max_page_size)
    lists, assignments = minimum_calls(prepared.emulator, prepared.account, opts.page_size)
    with serving(prepared.emulator, knobs) as server:
        progress(f"plan of {n:,} objects over HTTP (--concurrency {opts.plan_concurrency})")
        before = server_stats(server)
        prepared.emulator.start_window()
        args = ["plan", str(prepared.config_dir), "--concurrency", str(opts.plan_concurrency)]
        if opts.plan_rate_limit:
            args += ["--rate-limit", f"{opts.plan_rate_limit:g}"]
        server_cpu = time.process_time()  # this process only serves while the child runs
        run = run_child(cli(*args), http_env(server, workdir / "state"), workdir).check("plan")
        server_cpu = time.process_time() - server_cpu
        after = server_stats(server)
        http_s = prepared.emulator.window()
        if "No changes" not in run.stdout:
            raise RuntimeError(f"plan of the matching account is not empty:\n{run.stdout[-2000:]}")
        progress(f"naive refresh of {n:,} objects (at most {opts.naive_sample:,} calls timed)")
        refresh = naive.naive_refresh(server.url, TOKEN, prepared.account, prepared.ids, opts.naive_sample)
    return PlanFigures(
        n=n, calls=after["total"] - before["total"], client_calls=run.client_calls, minimum=lists + assignments,
        list_calls=lists, assignment_calls=assignments, wall_s=run.wall, http_s=http_s, cpu_s=run.cpu,
        server_cpu_s=server_cpu, peak_rss_mb=run.max_rss_mb, naive_calls=refresh.calls,
        naive_timed_calls=refresh.timed_calls, naive_wall_s=refresh.wall, naive_extrapolated=refresh.extrapolated,
        calls_by_route=stats_delta(before, after))


# -- cpu --------------------------------------------------------------------------------------
def bench_cpu(scenario: str, n: int, config_dir: Path, emulator: Emulator, workdir: Path) -> CpuFigures:
    recording = workdir / f"recording-{scenario}-{n}.json"
    cpu.record_account(emulator, recording)
    progress(f"CPU-only pipeline, {scenario}, {n:,} objects")
    run = run_child([str(BENCH / "cpu.py"), "--config", str(config_dir), "--live", str(recording)],
                    {}, workdir).check(f"cpu {scenario}")
    data = json.loads(run.stdout.strip().splitlines()[-1])
    recording.unlink()
    return CpuFigures(scenario, n, data["changes"], data["phases"], data["cpu_total"], data["baseline_rss_mb"],
                      data["peak_rss_mb"])


def empty_account() -> Emulator:
    return Emulator(Store(":memory:"))


# -- apply ------------------------------------------------------------------------------------
def apply_knobs(opts: Options) -> Knobs:
    return Knobs(latency_ms=opts.latency_ms, rate_limit=opts.rate_limit, max_page_size=opts.max_page_size)


def bench_apply(n: int, opts: Options, workdir: Path) -> ApplyFigures:
    account = synth.make_account(n, opts.seed)
    config_dir = workdir / f"apply-config-{n}"
    synth.write_config(account, config_dir)
    emulator = fresh_emulator(workdir / f"apply-{n}.sqlite3")
    with serving(emulator, apply_knobs(opts)) as server:
        progress(f"apply of {n:,} objects ({account.writes_to_create:,} writes) at R={opts.rate_limit:g}")
        before = server_stats(server)
        args = ["apply", str(config_dir), "--yes", "--rate-limit", f"{opts.rate_limit:g}",
                "--concurrency", str(opts.concurrency)]
        run = run_child(cli(*args), http_env(server, workdir / "state"), workdir).check("apply")
        calls = server_stats(server)["total"] - before["total"]
    writes = len(emulator.write_times)
    emulator.close()
    if writes != account.writes_to_create:
        raise RuntimeError(f"apply of {n} objects made {writes} writes, expected {account.writes_to_create}")
    rate = emulator.write_rate()
    window = emulator.write_times[-1] - emulator.write_times[0] if writes > 1 else 0.0
    return ApplyFigures(n, writes, account.writes_to_create, calls, calls - emulator.handled, run.wall, window,
                        rate, rate / opts.rate_limit, run.max_rss_mb)


def bench_naive_apply(n: int, opts: Options, workdir: Path) -> NaiveApplyFigures:
    account = synth.make_account(n, opts.seed)
    emulator = fresh_emulator(workdir / f"naive-apply-{n}.sqlite3")
    with serving(emulator, apply_knobs(opts)) as server:
        progress(f"naive apply of {n:,} objects ({account.writes_one_by_one:,} sequential writes)")
        run = naive.naive_apply(server.url, TOKEN, account)
    emulator.close()
    return NaiveApplyFigures(n, run.calls, run.wall, run.calls / run.wall if run.wall else 0.0)


# -- the whole run ----------------------------------------------------------------------------
def run_all(opts: Options, workdir: Path) -> Results:
    results = Results()
    cpu_config: Path | None = None
    want_cpu = "cpu" in opts.parts
    for n in opts.sizes if "plan" in opts.parts else ():
        prepared = prepare(n, opts, workdir, results)
        results.plan.append(bench_plan(prepared, opts, workdir))
        if want_cpu and n == opts.cpu_size:
            results.cpu.append(bench_cpu("steady", n, prepared.config_dir, prepared.emulator, workdir))
            cpu_config = prepared.config_dir
        prepared.emulator.close()
    if want_cpu and cpu_config is None:
        prepared = prepare(opts.cpu_size, opts, workdir, results)
        results.cpu.append(bench_cpu("steady", opts.cpu_size, prepared.config_dir, prepared.emulator, workdir))
        prepared.emulator.close()
        cpu_config = prepared.config_dir
    if want_cpu and cpu_config is not None:
        results.cpu.append(bench_cpu("initial", opts.cpu_size, cpu_config, empty_account(), workdir))
    if "apply" in opts.parts:
        for n in opts.apply_sizes:
            results.apply.append(bench_apply(n, opts, workdir))
        if opts.naive_apply_size:
            results.naive_apply = bench_naive_apply(opts.naive_apply_size, opts, workdir)
    return results


# -- printing ---------------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("  " + line for line in lines)


def _s(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds < 100 else f"{seconds:.0f}"


def _x(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 100 else f"{ratio:.0f}x"


def section(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return ["", title, table(headers, rows)] if rows else []


def _mark(ok: bool, missed: str = "MISSED") -> str:
    return "ok" if ok else missed


def setup_section(results: Results) -> list[str]:
    return section("Setup (not counted): synthetic account, written straight into the emulator in-process",
                   ["N", "clients", "tasks", "users", "jobs", "assignments", "files", "populate s"],
                   [[f"{s.n:,}", s.clients, s.tasks, s.users, s.jobs, f"{s.assignments:,}", s.files,
                     _s(s.populate_s)] for s in results.setup])


def plan_section(results: Results, opts: Options) -> list[str]:
    limit = f"server rate limit {opts.plan_rate_limit:g}/s" if opts.plan_rate_limit else "no server rate limit"
    return section(f"Plan of an account that already matches (CLI child over HTTP, --concurrency "
                   f"{opts.plan_concurrency}, {limit})",
                   ["N", "calls", "minimum", "", "lists+2", "assignment reads", "client says", "wall s", "http s",
                    "calls/s", "cpu s", "server cpu s", "peak MB", f"calls/{opts.rate_limit:g} s"],
                   [[f"{p.n:,}", f"{p.calls:,}", f"{p.minimum:,}", _mark(p.calls == p.minimum, "ABOVE"),
                     p.list_calls, f"{p.assignment_calls:,}", f"{p.client_calls:,}" if p.client_calls else "?",
                     _s(p.wall_s), _s(p.http_s), f"{p.calls / p.http_s:.0f}" if p.http_s else "-", _s(p.cpu_s),
                     _s(p.server_cpu_s), f"{p.peak_rss_mb:.0f}", _s(p.calls / opts.rate_limit)] for p in results.plan])


def naive_refresh_section(results: Results) -> list[str]:
    def approx(p: PlanFigures) -> str:
        return "~" if p.naive_extrapolated else ""

    return section("Naive refresh, measured in this run (GET per object by ID + GET per assignment list, sequential)",
                   ["N", "calls", "timed calls", "wall s", "per call ms", "calls naive/ours", "wall naive/ours"],
                   [[f"{p.n:,}", f"{p.naive_calls:,}", f"{p.naive_timed_calls:,}", approx(p) + _s(p.naive_wall_s),
                     f"{1000 * p.naive_wall_s / p.naive_calls:.1f}", _x(p.naive_calls / p.calls),
                     approx(p) + _x(p.naive_wall_s / p.wall_s)] for p in results.plan])


def cpu_section(results: Results) -> list[str]:
    return section(f"CPU only, no network (child process, time.process_time per phase; targets < {CPU_TARGET_S:g} s, "
                   f"< {RSS_TARGET_MB:g} MB)",
                   ["scenario", "N", "changes", "load+schema s", "live state s", "build plan s", "render s",
                    "total s", "", "baseline MB", "peak MB", ""],
                   [[c.scenario, f"{c.n:,}", f"{c.changes:,}", _s(c.phases["load"]), _s(c.phases["live"]),
                     _s(c.phases["diff"]), _s(c.phases["render"]), _s(c.cpu_total_s),
                     _mark(c.cpu_total_s < CPU_TARGET_S), f"{c.baseline_rss_mb:.0f}", f"{c.peak_rss_mb:.0f}",
                     _mark(c.peak_rss_mb < RSS_TARGET_MB)] for c in results.cpu])


def apply_section(results: Results, opts: Options) -> list[str]:
    return section(f"Apply of N objects into an empty account (CLI child over HTTP; server R={opts.rate_limit:g}/s, "
                   f"client --rate-limit {opts.rate_limit:g} --concurrency {opts.concurrency}; target >= "
                   f"{RATE_TARGET:.0%} of R)",
                   ["N", "writes", "calls", "429s", "wall s", "write phase s", "writes/s", "of R", "", "peak MB"],
                   [[f"{a.n:,}", f"{a.writes:,}", f"{a.calls:,}", a.rejected_429, _s(a.wall_s), _s(a.write_phase_s),
                     f"{a.writes_per_s:.1f}", f"{a.ratio_to_r:.1%}", _mark(a.ratio_to_r >= RATE_TARGET),
                     f"{a.peak_rss_mb:.0f}"] for a in results.apply])


def naive_apply_section(results: Results) -> list[str]:
    naive_run = results.naive_apply
    if naive_run is None:
        return []
    ours = next((a for a in results.apply if a.n == naive_run.n), None)
    return section("Naive apply, measured in this run (one POST at a time, same server and R)",
                   ["N", "writes", "wall s", "writes/s", "ours wall s", "wall naive/ours"],
                   [[f"{naive_run.n:,}", f"{naive_run.writes:,}", _s(naive_run.wall_s), f"{naive_run.writes_per_s:.1f}",
                     _s(ours.wall_s) if ours else "-", _x(naive_run.wall_s / ours.wall_s) if ours else "-"]])


def report(results: Results, opts: Options) -> str:
    out = [f"clicktime-reconciler benchmark: Python {platform.python_version()}, {os.cpu_count()} CPU(s); "
           f"server latency {opts.latency_ms:g} ms, page size {opts.page_size}"]
    out += setup_section(results) + plan_section(results, opts) + naive_refresh_section(results)
    out += cpu_section(results) + apply_section(results, opts) + naive_apply_section(results)
    return "\n".join(out) + "\n"


def _jsonable(value: Any) -> Any:
    return sorted(value) if isinstance(value, (set, frozenset)) else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        results = run_all(opts, workdir)
    finally:
        if opts.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(results, opts), end="")
    print(f"\n(total benchmark time {time.perf_counter() - start:.0f} s)")
    if opts.json:
        print(json.dumps({"options": asdict(opts), **asdict(results)}, default=_jsonable))
    return 0


if __name__ == "__main__":
    sys.exit(main())
