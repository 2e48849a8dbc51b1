"""Plumbing for the benchmark: emulator accounts, the HTTP server, its call counters, and the
CLI run as a child process with its own resource usage (CPU from os.wait4, peak RSS from
bench/peak.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.clicktime.transport import Request, Response
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.server import DEFAULT_TOKEN, EmulatorServer, Knobs

TOKEN = DEFAULT_TOKEN
BENCH = Path(__file__).resolve().parent
CALLS_LINE = re.compile(r"\((\d+) API call\(s\)(?:, (\d+) retried)?\)")


class RecordingEmulator(Emulator):
    """An emulator that notes when each request reached it and when each write succeeded, so
    the achieved write rate is measured where it matters: at the server."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.handled = 0  # requests that got past the server's rate limit
        self.write_times: list[float] = []
        self.first_answer = self.last_answer = 0.0
        super().__init__(*args, **kwargs)

    def handle(self, request: Request, caller_email: str | None = None) -> Response:
        response = super().handle(request, caller_email)
        with self.lock:  # server threads answer concurrently
            now = time.perf_counter()
            self.handled += 1
            self.first_answer = self.first_answer or now
            self.last_answer = now
            if request.method != "GET" and 200 <= response.status < 300:
                self.write_times.append(now)
        return response

    def start_window(self) -> None:
        self.first_answer = self.last_answer = 0.0

    def window(self) -> float:
        """Seconds from the first to the last answer since start_window()."""
        return self.last_answer - self.first_answer

    def write_rate(self) -> float:
        """Successful writes per second between the first and the last one."""
        times = self.write_times
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])


def fresh_emulator(path: Path) -> RecordingEmulator:
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    return RecordingEmulator.open(str(path))  # type: ignore[return-value]


@contextmanager
def serving(emulator: Emulator, knobs: Knobs) -> Iterator[EmulatorServer]:
    """The emulator's HTTP server on 127.0.0.1 (any free port), served from a thread."""
    server = EmulatorServer(emulator, "127.0.0.1", 0, knobs).start()
    try:
        yield server
    finally:
        server.stop()


def server_stats(server: EmulatorServer) -> dict[str, Any]:
    """GET /_emulator/stats (not itself counted): {"total", "calls": {"GET /Jobs": n, ...}, "faults"}."""
    with urllib.request.urlopen(server.url[: -len("/v2")] + "/_emulator/stats", timeout=10) as answer:
        return json.loads(answer.read())


def stats_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, int]:
    calls = {name: count - before["calls"].get(name, 0) for name, count in after["calls"].items()}
    return {name: count for name, count in calls.items() if count}


@dataclass
class ChildRun:
    """A finished child process: exit code, wall and CPU seconds, peak RSS, output."""

    exit_code: int
    wall: float
    cpu: float
    max_rss_mb: float
    stdout: str
    stderr: str

    @property
    def client_calls(self) -> int | None:
        """The call count the CLI reports on stderr ("(N API call(s))"), if it printed one."""
        found = CALLS_LINE.findall(self.stderr)
        return int(found[-1][0]) if found else None

    def check(self, what: str) -> ChildRun:
        if self.exit_code != 0:
            tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"{what} exited {self.exit_code}:\n{tail}")
        return self


def run_child(target: list[str], env: Mapping[str, str], workdir: Path) -> ChildRun:
    """Run `python TARGET...` (e.g. ["-m", "reconciler", "plan", ...]) through bench/peak.py,
    which reports the child's own peak RSS, with output to files (no pipe deadlocks on big
    plans). CPU seconds come from os.wait4: this child's rusage only."""
    out_path, err_path, peak_path = workdir / "child.out", workdir / "child.err", workdir / "child.peak"
    peak_path.unlink(missing_ok=True)
    argv = [sys.executable, str(BENCH / "peak.py"), *target]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **env, "BENCH_PEAK_FILE": str(peak_path)}, cwd=workdir)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    peak = float(peak_path.read_text()) if peak_path.exists() else float("nan")
    return ChildRun(process.returncode, wall, usage.ru_utime + usage.ru_stime, peak,
                    out_path.read_text(encoding="utf-8", errors="replace"),
                    err_path.read_text(encoding="utf-8", errors="replace"))


def cli(*args: str) -> list[str]:
    return ["-m", "reconciler", *args]


def http_env(server: EmulatorServer, state_dir: Path) -> dict[str, str]:
    return {"CLICKTIME_API_URL": server.url, "CLICKTIME_TOKEN": TOKEN, "RECONCILER_BACKEND": "clicktime",
            "RECONCILER_STATE_DIR": str(state_dir), "NO_COLOR": "1"}
