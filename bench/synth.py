"""Synthetic accounts for the benchmark: a configuration directory of N objects, and the same
objects written straight into an emulator account.

N counts the four core kinds only (clients, tasks, users, jobs); job assignments come on top:
every job manages both lists, with 2-3 tasks and 2-4 users. The shares are

    clients  5% of N
    tasks    2% of N, at least 3, at most 250 (real accounts have tens to hundreds)
    users   20% of N, at least 4
    jobs     the rest, spread round-robin over the clients

Everything is deterministic for a given (N, seed). Keys and names are built to pass the tool's
checks: names and keys <= 50 characters, unique task names and codes that do not collide with
the nine default tasks, unique lower-case emails, unique client numbers.

The YAML is written by hand (every scalar is plain-safe or JSON-quoted) because PyYAML's emitter
would take longer than the benchmarked code on 50k objects. Files: `tasks.yaml`, `users/NNN.yaml`
(1,000 users each) and `clients/NNN.yaml` (20 clients with their jobs each).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.clicktime.assumptions import DEFAULT_TASKS
from reconciler.clicktime.transport import Request
from reconciler.model import FIELD_BY_YAML, Key, Kind, ref_key, yaml_to_api_value
from reconciler.sandbox.emulator import Emulator

CLIENTS_PER_FILE = 20
USERS_PER_FILE = 1000
TASK_CAP = 250
KIND_ORDER = (Kind.CLIENT, Kind.TASK, Kind.USER, Kind.JOB)


@dataclass(frozen=True)
class Counts:
    clients: int
    tasks: int
    users: int
    jobs: int

    @property
    def total(self) -> int:
        return self.clients + self.tasks + self.users + self.jobs

    def of(self, kind: Kind) -> int:
        return {Kind.CLIENT: self.clients, Kind.TASK: self.tasks, Kind.USER: self.users, Kind.JOB: self.jobs}[kind]


def counts_for(n: int) -> Counts:
    """Split N objects over the four kinds (see the module docstring)."""
    clients = max(1, round(n * 0.05))
    tasks = max(3, min(round(n * 0.02), TASK_CAP))
    users = max(4, round(n * 0.20))
    jobs = n - clients - tasks - users
    if jobs < 1:
        raise ValueError(f"{n} objects are too few for a synthetic account (need at least 9)")
    return Counts(clients, tasks, users, jobs)


@dataclass(frozen=True)
class Obj:
    """One synthetic object: its kind, natural key and YAML fields (assignments included for jobs)."""

    kind: Kind
    key: Key
    fields: dict[str, Any]
    assignments: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Account:
    counts: Counts
    clients: list[Obj]
    tasks: list[Obj]
    users: list[Obj]
    jobs: list[Obj]

    def objects(self, kind: Kind) -> list[Obj]:
        return {Kind.CLIENT: self.clients, Kind.TASK: self.tasks, Kind.USER: self.users, Kind.JOB: self.jobs}[kind]

    @property
    def assignment_count(self) -> int:
        return sum(len(targets) for job in self.jobs for targets in job.assignments.values())

    @property
    def managed_lists(self) -> int:
        """Job assignment lists the configuration manages (each costs one GET when planning)."""
        return sum(len(job.assignments) for job in self.jobs)

    @property
    def writes_to_create(self) -> int:
        """Writes that create this account from empty: one POST per object, and one write per
        managed list (a PUT of the whole set; a POST when the list holds one member)."""
        return self.counts.total + self.managed_lists

    @property
    def writes_one_by_one(self) -> int:
        """The same with one POST per assignment: what an apply without whole-set writes sends."""
        return self.counts.total + self.assignment_count


def make_account(n: int, seed: int = 1, counts: Counts | None = None) -> Account:
    """N objects split as counts_for(N) says, or exactly `counts`."""
    counts = counts or counts_for(n)
    rng = random.Random(seed)
    clients = [_client(i) for i in range(counts.clients)]
    tasks = [_task(i) for i in range(counts.tasks)]
    users = [_user(i) for i in range(counts.users)]
    task_codes = [t.key[0] for t in tasks]
    emails = [u.key[0] for u in users]
    jobs = [_job(j, clients[j % counts.clients].key[0], rng, task_codes, emails) for j in range(counts.jobs)]
    return Account(counts, clients, tasks, users, jobs)


def _client(i: int) -> Obj:
    fields: dict[str, Any] = {"name": f"Client {i:05d} Holdings", "client_number": f"CN-{i:05d}"}
    if i % 4 == 0:
        fields["notes"] = f"Synthetic client {i}, key account"
    return Obj(Kind.CLIENT, (f"C{i:05d}",), fields)


_DEFAULT_CODES = {code for code, _ in DEFAULT_TASKS}
_DEFAULT_NAMES = {name.casefold() for _, name in DEFAULT_TASKS}


def _task(i: int) -> Obj:
    code, name = f"T{i:04d}", f"Synthetic task {i:04d}"
    assert code not in _DEFAULT_CODES and name.casefold() not in _DEFAULT_NAMES
    return Obj(Kind.TASK, (code,), {"name": name, "notes": f"synthetic {i % 3}"})


def _user(i: int) -> Obj:
    fields: dict[str, Any] = {"name": f"User {i:05d} Example", "employee_number": f"E{i:05d}",
                              "security_level": "manager" if i % 25 == 0 else "standard",
                              "start_date": f"20{15 + i % 10}-{1 + i % 12:02d}-{1 + i % 28:02d}"}
    if i % 3 == 0:
        fields["role"] = ("Engineer", "Designer", "Consultant", "Analyst")[i % 4]
    return Obj(Kind.USER, (f"user{i:05d}@bench.example",), fields)


def _job(j: int, client: str, rng: random.Random, task_codes: list[str], emails: list[str]) -> Obj:
    team = rng.sample(emails, rng.randint(2, 4))
    fields: dict[str, Any] = {"name": f"Project {j:06d}", "billable": j % 5 != 0,
                              "start_date": f"202{j % 5}-{1 + j % 12:02d}-01", "project_manager": team[0]}
    assignments = {"tasks": rng.sample(task_codes, rng.randint(2, 3)), "users": team}
    return Obj(Kind.JOB, (client, f"J{j:06d}"), fields, assignments)


# -- YAML ------------------------------------------------------------------------------------
def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def _field_lines(obj: Obj, indent: str) -> Iterator[str]:
    for name, value in obj.fields.items():
        yield f"{indent}{name}: {_scalar(value)}"
    for name, targets in obj.assignments.items():
        yield f"{indent}{name}: [{', '.join(targets)}]"


def _section(name: str, objects: list[Obj]) -> list[str]:
    lines = [f"{name}:"]
    for obj in objects:
        lines.append(f"  {obj.key[0]}:")
        lines += _field_lines(obj, "    ")
    return lines


def write_config(account: Account, directory: Path) -> list[Path]:
    """Write the account as a configuration directory; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {"tasks.yaml": _section("tasks", account.tasks)}
    for start in range(0, len(account.users), USERS_PER_FILE):
        users = account.users[start:start + USERS_PER_FILE]
        files[f"users/{start // USERS_PER_FILE:03d}.yaml"] = _section("users", users)
    jobs_by_client: dict[str, list[Obj]] = {}
    for job in account.jobs:
        jobs_by_client.setdefault(job.key[0], []).append(job)
    for start in range(0, len(account.clients), CLIENTS_PER_FILE):
        group = account.clients[start:start + CLIENTS_PER_FILE]
        lines = _section("clients", group) + ["jobs:"]
        for client in group:
            lines.append(f"  {client.key[0]}:")
            for job in jobs_by_client.get(client.key[0], []):
                lines.append(f"    {job.key[1]}:")
                lines += _field_lines(job, "      ")
        files[f"clients/{start // CLIENTS_PER_FILE:03d}.yaml"] = lines
    written = []
    for name, lines in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written


# -- the same objects, straight into an emulator ----------------------------------------------
class PopulateError(RuntimeError):
    pass


def _post(emulator: Emulator, path: str, body: dict[str, Any]) -> Any:
    response = emulator.handle(Request("POST", path, (), body))
    if not 200 <= response.status < 300:
        raise PopulateError(f"POST {path} {body}: HTTP {response.status} {response.body}")
    return response.body["data"]


def api_body(obj: Obj, ids: dict[Kind, dict[Key, str]]) -> dict[str, Any]:
    """The create body the reconciler would send for this object (natural key + fields)."""
    if obj.kind is Kind.JOB:
        body: dict[str, Any] = {"ClientID": ids[Kind.CLIENT][obj.key[:1]], "JobNumber": obj.key[1]}
    else:
        body = {{Kind.CLIENT: "ShortName", Kind.TASK: "TaskCode", Kind.USER: "Email"}[obj.kind]: obj.key[0]}
    for name, value in obj.fields.items():
        spec = FIELD_BY_YAML[obj.kind][name]
        body[spec.api] = yaml_to_api_value(spec, value, lambda kind, key: ids[kind][key])
    return body


def populate(emulator: Emulator, account: Account) -> dict[Kind, dict[Key, str]]:
    """Create every object and assignment through `emulator.handle` (in-process POSTs, the same
    validation as over HTTP). Returns the IDs by kind and natural key."""
    ids: dict[Kind, dict[Key, str]] = {kind: {} for kind in KIND_ORDER}
    for kind in KIND_ORDER:
        for obj in account.objects(kind):
            ids[kind][obj.key] = _post(emulator, f"/{kind.collection}", api_body(obj, ids))["ID"]
    for job in account.jobs:
        job_id = ids[Kind.JOB][job.key]
        for code in job.assignments["tasks"]:
            _post(emulator, f"/Jobs/{job_id}/Tasks", {"TaskID": ids[Kind.TASK][(code,)]})
        for email in job.assignments["users"]:
            _post(emulator, f"/Jobs/{job_id}/Users", {"UserID": ids[Kind.USER][ref_key(Kind.USER, email)]})
    return ids
