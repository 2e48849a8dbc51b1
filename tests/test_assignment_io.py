"""Assignment reads in the cheaper direction and whole-set writes, against the real emulator,
in-process and over HTTP: fewer calls when the account honours them, a said fallback when it
does not (the emulator's quirks), and an apply that converges and resumes either way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import account, run, serve_over_http

from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.transport import Request, Response
from reconciler.live import CROSS_CHECK_JOBS
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.profiles import DEFAULT_PROFILE, load_profile
from reconciler.sandbox.server import Knobs
from reconciler.sandbox.styles import parse_styles
from reconciler.sandbox.transport import SandboxTransport

TASKS = [f"T{n}" for n in range(4)]
USERS = [f"user{n}@example.com" for n in range(6)]
JOBS = 24
ID = re.compile(r"/(?!new\b)[A-Za-z0-9]{20,}")
QuirkyAccount = Callable[..., Path]
Seen = list[tuple[str, str, tuple[tuple[str, str], ...], str]]


def job_lists(n: int) -> dict[str, list[str]]:
    """Job n's declared lists: most hold two or three members (one PUT each), a few hold one."""
    if n % 8 == 0:
        return {"tasks": [TASKS[n % 4]], "users": USERS[:3]}
    return {"tasks": [TASKS[n % 4], TASKS[(n + 1) % 4]], "users": [USERS[n % 6], USERS[(n + 2) % 6]]}


def write_config(directory: Path, lists: dict[int, dict[str, list[str]]] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, dict[str, Any]] = {"C1": {}, "C2": {}}
    for n in range(JOBS):
        jobs[f"C{1 + n % 2}"][f"J{n:02d}"] = {"name": f"Job {n}", **(lists or {}).get(n, job_lists(n))}
    data = {"clients": {"C1": {"name": "One"}, "C2": {"name": "Two"}},
            "tasks": {code: {"name": f"Task {code}"} for code in TASKS},
            "users": {email: {"name": email.split("@")[0]} for email in USERS},
            "jobs": jobs}
    (directory / "account.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return directory


def profile_file(tmp_path: Path, **quirks: bool) -> str:
    """The default profile with some of the emulator's quirks on."""
    profile = replace(load_profile(DEFAULT_PROFILE), name="quirky", quirks=quirks)
    path = tmp_path / "quirky.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in profile.to_dict().items() if k != "name"}), encoding="utf-8")
    return str(path)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Every request the emulator answers (in-process or behind its HTTP server), as
    (method, path with IDs as {id}, query)."""
    requests: Seen = []
    original = Emulator.handle

    def handle(self: Emulator, request: Request, caller_email: str | None = None) -> Response:
        requests.append((request.method, ID.sub("/{id}", request.path), request.query, request.path))
        return original(self, request, caller_email)

    monkeypatch.setattr(Emulator, "handle", handle)
    return requests


def routes(requests: Seen) -> Counter[str]:
    counted: Counter[str] = Counter()
    for method, path, query, _ in requests:
        names = {name for name, _ in query}
        counted[f"{method} {path}" + ("?UserID" if "UserID" in names else "")] += 1
    return counted


@pytest.fixture(params=["sandbox", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def plain_account(transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from account(transport, None, tmp_path, monkeypatch)


@pytest.fixture
def quirky_account(transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[QuirkyAccount]:
    """A fresh account whose profile turns some of the emulator's quirks on, behind `transport`."""
    opened: list[Iterator[Path]] = []

    def open_with(**quirks: bool) -> Path:
        opened.append(account(transport, profile_file(tmp_path, **quirks), tmp_path, monkeypatch))
        return next(opened[-1])

    yield open_with
    for generator in opened:
        next(generator, None)  # stops the server, if any


def declared_counts(lists: dict[int, dict[str, list[str]]] | None = None) -> dict[str, Counter[int]]:
    """How many jobs declare 1, 2, 3... members, per list."""
    counts: dict[str, Counter[int]] = {"tasks": Counter(), "users": Counter()}
    for n in range(JOBS):
        for name, members in (lists or {}).get(n, job_lists(n)).items():
            counts[name][len(members)] += 1
    return counts


def live_sets(path: Path) -> dict[tuple[str, str], dict[str, set[str]]]:
    """(client, job number) -> list -> member keys, read per job straight from the account."""
    emulator = Emulator.open(str(path))
    try:
        client = ClickTimeClient(SandboxTransport(emulator))
        clients = {c["ID"]: c["ShortName"] for c in client.list_all("Clients")}
        tasks = {t["ID"]: t["TaskCode"] for t in client.list_all("Tasks")}
        users = {u["ID"]: u["Email"] for u in client.list_all("Users")}
        found = {}
        for job in client.list_all("Jobs"):
            found[(clients[job["ClientID"]], job["JobNumber"])] = {
                "tasks": {tasks[i] for i in client.assigned_ids(job["ID"], "Tasks")},
                "users": {users[i] for i in client.assigned_ids(job["ID"], "Users")}}
        return found
    finally:
        emulator.close()


def assert_matches(path: Path, lists: dict[int, dict[str, list[str]]] | None = None) -> None:
    live = live_sets(path)
    for n in range(JOBS):
        wanted = (lists or {}).get(n, job_lists(n))
        assert live[(f"C{1 + n % 2}", f"J{n:02d}")] == {k: set(v) for k, v in wanted.items()}, n


def writes(requests: Seen, method: str, sub: str) -> int:
    return sum(1 for m, path, _, _ in requests if m == method and path == f"/Jobs/{{id}}/{sub}")


# -- writes ----------------------------------------------------------------------------------
def test_onboarding_writes_each_set_in_one_request_after_the_first_verified_put(
        plain_account: Path, tmp_path: Path, seen: Seen) -> None:
    config = write_config(tmp_path / "config")
    result = run("apply", config, "--yes")
    assert result.exit_code == 0, result.stderr
    counts = declared_counts()
    changes = sum(size * jobs for lists in counts.values() for size, jobs in lists.items())
    assert f"Apply complete: {2 + 4 + 6 + JOBS + changes} change(s) applied." in result.stdout
    for list_name, sub in (("tasks", "Tasks"), ("users", "Users")):
        several = sum(jobs for size, jobs in counts[list_name].items() if size > 1)
        assert writes(seen, "PUT", sub) == several, list_name
        assert writes(seen, "POST", sub) == counts[list_name][1]  # a one-member list is one POST anyway
        assert writes(seen, "GET", sub) == 1  # the first PUT of each kind is read back, no other
    assert "note:" not in result.stderr
    assert_matches(plain_account)
    again = run("plan", config, "--detailed-exitcode")
    assert again.exit_code == 0, again.stdout + again.stderr


def test_put_that_merges_is_caught_repaired_and_not_used_again(quirky_account: QuirkyAccount, tmp_path: Path,
                                                               seen: Seen) -> None:
    path = quirky_account(put_merges=True)
    config = write_config(tmp_path / "config")
    assert run("apply", config, "--yes").exit_code == 0  # a new job's PUT only adds: merging is not yet visible
    assert_matches(path)
    # Two jobs swap both tasks: a PUT that removes members. The first is read back, found merged,
    # repaired; the second job's change goes as single writes.
    changed = {1: {"tasks": [TASKS[3]], "users": job_lists(1)["users"]},
               2: {"tasks": [TASKS[0], TASKS[1]], "users": [USERS[4], USERS[5]]},
               3: {"tasks": [TASKS[1], TASKS[2]], "users": [USERS[0], USERS[1], USERS[2]]}}
    write_config(config, changed)
    seen.clear()
    result = run("apply", config, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "did not leave the set it was sent" in result.stderr
    assert "single assigns and unassigns for the rest of this run" in result.stderr
    assert writes(seen, "PUT", "Tasks") == 1, routes(seen)
    assert_matches(path, changed)
    again = run("plan", config, "--detailed-exitcode")
    assert again.exit_code == 0, again.stdout + again.stderr


def test_put_refused_falls_back_to_single_writes(plain_account: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    original = Emulator.handle

    def no_put(self: Emulator, request: Request, caller_email: str | None = None) -> Response:
        if request.method == "PUT":
            return Response(405, {"errors": [{"Message": "The requested resource does not support PUT"}]})
        return original(self, request, caller_email)

    monkeypatch.setattr(Emulator, "handle", no_put)
    config = write_config(tmp_path / "config")
    result = run("apply", config, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "was refused" in result.stderr and "single assigns and unassigns" in result.stderr
    assert_matches(plain_account)


# -- reads -----------------------------------------------------------------------------------
def test_no_op_plan_reads_assignments_per_task_and_user(plain_account: Path, tmp_path: Path, seen: Seen) -> None:
    config = write_config(tmp_path / "config")
    assert run("apply", config, "--yes").exit_code == 0
    seen.clear()
    result = run("plan", config, "--detailed-exitcode")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout and "Warnings" not in result.stdout
    counted = routes(seen)
    tasks, users = len(TASKS) + 9, len(USERS) + 1  # the nine default tasks and the owner are listed too
    assert counted["GET /Tasks/{id}/Jobs"] == tasks
    assert counted["GET /Jobs?UserID"] == users  # every job is active: one read per user, IsActive=true
    assert counted["GET /Jobs/{id}/Tasks"] == counted["GET /Jobs/{id}/Users"] == CROSS_CHECK_JOBS
    assert all(len({n for n, _ in q}) == len(q) for _, _, q, _ in seen), "a repeated query key"
    assert f"({len(seen)} API call(s))" in result.stderr


def test_reverse_reads_that_disagree_fall_back_to_per_job_reads(quirky_account: QuirkyAccount, tmp_path: Path,
                                                                seen: Seen) -> None:
    path = quirky_account(reverse_reads_disagree=True)
    config = write_config(tmp_path / "config")
    assert run("apply", config, "--yes").exit_code == 0
    seen.clear()
    result = run("plan", config, "--detailed-exitcode")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout
    assert "were read per job" in result.stdout and "missed 1" in result.stdout  # in the plan's warnings
    counted = routes(seen)
    assert JOBS in (counted["GET /Jobs/{id}/Tasks"], counted["GET /Jobs/{id}/Users"]), counted
    # Changes converge too: one job gains a member, another loses one.
    changed = {5: {"tasks": TASKS[:3], "users": job_lists(5)["users"]},
               6: {"tasks": job_lists(6)["tasks"], "users": job_lists(6)["users"][:1]}}
    write_config(config, changed)
    assert run("apply", config, "--yes").exit_code == 0
    assert_matches(path, changed)
    assert run("plan", config, "--detailed-exitcode").exit_code == 0


def test_reverse_reads_refused_fall_back_with_a_warning(plain_account: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "config")
    assert run("apply", config, "--yes").exit_code == 0
    original = Emulator.handle

    def no_reverse(self: Emulator, request: Request, caller_email: str | None = None) -> Response:
        if request.path.startswith("/Tasks/") and request.path.endswith("/Jobs"):
            return Response(404, {"errors": [{"Message": "No HTTP resource was found"}]})
        return original(self, request, caller_email)

    monkeypatch.setattr(Emulator, "handle", no_reverse)
    result = run("plan", config, "--detailed-exitcode")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "job tasks were read per job: the account refused reading them per task" in result.stdout


def test_small_account_reads_per_job(plain_account: Path, basic_config: Path, seen: Seen) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    seen.clear()
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0
    counted = routes(seen)
    assert counted["GET /Tasks/{id}/Jobs"] == counted["GET /Jobs?UserID"] == 0
    assert counted["GET /Jobs/{id}/Tasks"] == 2 and counted["GET /Jobs/{id}/Users"] == 1


def test_saved_plan_reads_only_what_it_touches(plain_account: Path, tmp_path: Path, seen: Seen) -> None:
    config = write_config(tmp_path / "config")
    assert run("apply", config, "--yes").exit_code == 0
    changed = {4: {"tasks": TASKS[:3], "users": job_lists(4)["users"]}}
    write_config(config, changed)
    assert run("plan", config, "--out", tmp_path / "plan.json").exit_code == 0
    seen.clear()
    result = run("apply", config, "--plan", tmp_path / "plan.json", "--yes")
    assert result.exit_code == 0, result.stderr
    counted = routes(seen)
    assert counted["GET /Tasks/{id}/Jobs"] == counted["GET /Jobs?UserID"] == 0
    assert counted["GET /Jobs/{id}/Tasks"] == 1  # the one list it edits
    assert_matches(plain_account, changed)


# -- resume ----------------------------------------------------------------------------------
def test_interrupted_between_put_and_journal_resumes_without_losing_or_doubling(
        plain_account: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: Seen) -> None:
    config = write_config(tmp_path / "config")
    original = ClickTimeClient.put_assigned
    puts: list[str] = []
    lock = threading.Lock()

    def put_then_interrupt(self: ClickTimeClient, job_id: str, sub: str, ids: Any) -> list[str]:
        answer = original(self, job_id, sub, ids)
        with lock:  # writes run in parallel: exactly one of them is the third
            puts.append(f"/Jobs/{job_id}/{sub}")  # the same job's other list may still be unwritten
            third = len(puts) == 3
        if third:  # the set is written; Ctrl-C arrives before the journal says so
            raise KeyboardInterrupt
        return answer

    monkeypatch.setattr(ClickTimeClient, "put_assigned", put_then_interrupt)
    first = run("apply", config, "--yes")
    assert first.exit_code == 130, first.stdout + first.stderr
    monkeypatch.setattr(ClickTimeClient, "put_assigned", original)
    journal = next((tmp_path / "state" / "journal").glob("apply-*.jsonl")).read_text()
    assert '"event": "intent"' in journal
    seen.clear()
    resumed = run("apply", config, "--resume", "--yes")
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    rewritten = [path for method, _, _, path in seen if method in ("PUT", "POST") and path == puts[2]]
    assert rewritten == []  # the interrupted PUT's set was read back, found written, and left alone
    assert_matches(plain_account)
    assert run("plan", config, "--detailed-exitcode").exit_code == 0


KILL_AFTER_PUT = """
import os, sys
from reconciler.clicktime import client
original = client.ClickTimeClient.put_assigned
count = []
def put(self, job_id, sub, ids):
    answer = original(self, job_id, sub, ids)
    count.append(job_id)
    if len(count) == int(os.environ["KILL_AFTER_PUTS"]):
        os._exit(137)  # killed: nothing after the PUT reaches the journal
    return answer
client.ClickTimeClient.put_assigned = put
from reconciler.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_killed_after_a_put_resumes_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "account.sqlite3"
    config = write_config(tmp_path / "config")
    with serve_over_http(path, monkeypatch, Knobs(token="kill-token")):
        env = {**os.environ, "KILL_AFTER_PUTS": "5", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        killed = subprocess.run([sys.executable, "-c", KILL_AFTER_PUT, "apply", str(config), "--yes"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert killed.returncode == 137, killed.stderr[-2000:]
        resumed = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(config), "--resume", "--yes"],
                                 env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
        check = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(config), "--detailed-exitcode"],
                               env=env, capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout[-2000:]
    assert_matches(path)


# -- probe -----------------------------------------------------------------------------------
@pytest.mark.parametrize("quirky", [False, True], ids=["honoured", "disagreeing"])
def test_probe_reports_whether_reverse_reads_agree(quirky: bool, quirky_account: QuirkyAccount,
                                                  tmp_path: Path) -> None:
    quirky_account(reverse_reads_disagree=quirky)
    config = write_config(tmp_path / "config")
    assert run("apply", config, "--yes").exit_code == 0
    # The newest assignment is on the job the probe reads first: the quirk hides exactly it.
    emulator = Emulator.open(str(tmp_path / "sandbox.sqlite3"))
    client = ClickTimeClient(SandboxTransport(emulator))
    first = client.list_pages("Jobs", [("IsActive", "true"), ("limit", "1"), ("offset", "0")])[0]
    task = next(t for t in client.list_all("Tasks") if t["ID"] not in client.assigned_ids(first["ID"], "Tasks"))
    client.assign(first["ID"], "Tasks", task["ID"])
    emulator.close()
    result = run("doctor", config, "--probe")
    assert result.exit_code == 0, result.stdout + result.stderr
    line = next(li for li in result.stdout.splitlines() if "agree with per-job reads" in li)
    assert line.strip().startswith("[differs]" if quirky else "[holds]"), line


# -- inactive members -------------------------------------------------------------------------
def test_assignment_lists_that_hide_inactive_records_still_converge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    seen: Seen) -> None:
    """An account whose assignment lists (both directions) leave inactive jobs, tasks and users out
    unless asked: inactive jobs, an inactive task and an inactive user, all assigned, read as
    assigned, so the apply converges and the next plan is empty."""
    config = write_config(tmp_path / "config")
    data = yaml.safe_load((config / "account.yaml").read_text(encoding="utf-8"))
    for number in ("J00", "J02", "J04"):
        data["jobs"]["C1"][number]["active"] = False
    data["tasks"]["T1"]["active"] = False
    data["users"]["user2@example.com"]["active"] = False
    (config / "account.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    knobs = Knobs(token="hide-token", style=parse_styles("assignments-hide-inactive"))
    with serve_over_http(tmp_path / "account.sqlite3", monkeypatch, knobs):
        first = run("apply", config, "--yes")
        assert first.exit_code == 0, first.stdout + first.stderr
        seen.clear()
        again = run("plan", config, "--detailed-exitcode")
        assert again.exit_code == 0, again.stdout + again.stderr
        assert routes(seen)["GET /Tasks/{id}/Jobs"] > 0  # read from the other side, where inactive jobs hide
        # the cross-check samples the jobs whose reverse read differs from the configuration first
        assert "missed 1 and added 0" in again.stdout
