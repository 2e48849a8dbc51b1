"""Shared fixtures: a fresh sandbox account per test, configuration files, and the CLI in-process."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.clicktime.client import ClickTimeClient
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.server import EmulatorServer, Knobs
from reconciler.sandbox.styles import parse_styles
from reconciler.sandbox.transport import SandboxTransport

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Journals, the apply lock and (unless a test picks one) the sandbox go to the test's own
    directory: tests run in parallel, and none may share the default .reconciler/."""
    path = tmp_path / "state"
    monkeypatch.setenv("RECONCILER_STATE_DIR", str(path))
    monkeypatch.setenv("RECONCILER_SANDBOX", str(tmp_path / "default-sandbox.sqlite3"))
    return path


TRANSPORTS = ["sandbox", "http", "membrane", "membrane-api"]
# How a real account might answer where ClickTime's documents are silent: every variant at once.
REAL_STYLE = ("omit-nulls,datetimes,conflict-409,small-pages,absolute-links,decimals-as-strings,"
              "inactive-by-default,last-query-wins,assignments-hide-inactive")


@pytest.fixture(params=TRANSPORTS)
def sandbox_path(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The account every end-to-end test works on, reached in-process ("sandbox"), through the
    http transport and the emulator's HTTP server on loopback ("http"), through the fake membrane
    CLI first on PATH ("membrane"), or through the fake Membrane API on loopback ("membrane-api")."""
    yield from account(request.param, None, tmp_path, monkeypatch)


def account(transport: str, profile: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh account of `profile` (None: the default) behind `transport`; "http-real-style"
    is the HTTP server answering in REAL_STYLE."""
    path = tmp_path / "sandbox.sqlite3"
    if profile is not None:
        from reconciler.sandbox.profiles import load_profile

        emulator = Emulator.open(str(path))
        emulator.reset(load_profile(profile))
        emulator.close()
    monkeypatch.setenv("RECONCILER_SANDBOX", str(path))
    monkeypatch.delenv("RECONCILER_BACKEND", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("MEMBRANE_BIN", "MEMBRANE_CONNECTION_ID", "MEMBRANE_TOKEN", "MEMBRANE_TOKEN_FILE", "MEMBRANE_API_URL",
                 "MEMBRANE_API_URI", "MEMBRANE_WORKSPACE_KEY", "MEMBRANE_WORKSPACE_SECRET", "MEMBRANE_TENANT_KEY",
                 "MEMBRANE_CLICKTIME_PATH_PREFIX", "MEMBRANE_RECORD_DIR"):
        monkeypatch.delenv(name, raising=False)
    if transport == "sandbox":
        yield path
        return
    if transport == "membrane":  # the fake membrane CLI, first on PATH, on the same account
        from fakes import FakeMembrane

        with FakeMembrane(tmp_path / "membrane", path) as fake:  # stops its server of the account
            for name, value in fake.env().items():
                monkeypatch.setenv(name, value)
            monkeypatch.setenv("RECONCILER_BACKEND", "membrane")
            yield path
        return
    if transport == "membrane-api":  # the fake Membrane API on loopback, on the same account
        from fakes.membrane_api_server import FakeMembraneApi

        api = FakeMembraneApi(Emulator.open(str(path)), token="membrane-test-token").start()
        monkeypatch.setenv("RECONCILER_BACKEND", "membrane-api")
        monkeypatch.setenv("MEMBRANE_API_URL", api.url)
        monkeypatch.setenv("MEMBRANE_TOKEN", "membrane-test-token")
        yield path
        api.stop()
        api.emulator.close()
        return
    style = parse_styles(REAL_STYLE if transport == "http-real-style" else "")
    with serve_over_http(path, monkeypatch, Knobs(token="test-token", style=style)):
        yield path


@contextmanager
def serve_over_http(path: Path, monkeypatch: pytest.MonkeyPatch, knobs: Knobs) -> Iterator[EmulatorServer]:
    """The emulator's HTTP server on loopback over the account at `path`, with the clicktime
    backend pointed at it for the rest of the test."""
    server = EmulatorServer(Emulator.open(str(path)), knobs=knobs).start()
    monkeypatch.setenv("RECONCILER_BACKEND", "clicktime")
    monkeypatch.setenv("CLICKTIME_API_URL", server.url)
    monkeypatch.setenv("CLICKTIME_TOKEN", knobs.token)
    monkeypatch.setenv("NO_COLOR", "1")
    try:
        yield server
    finally:
        server.stop()
        server.emulator.close()


def plan_and_import(config: Path, out: Path, backend: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Plan (as JSON, less the backend's name), apply, and import through `backend` (less the
    backend's name that the import's reconciler.yaml records): what two backends must agree on
    when they hold the same account."""
    plan = run("plan", config, "--format", "json", "--backend", backend)
    assert plan.exit_code == 0, plan.stderr
    assert run("apply", config, "--yes", "--backend", backend).exit_code == 0
    assert run("import", "--out", out, "--backend", backend).exit_code == 0
    files = {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}
    assert f"\nbackend: {backend}\n" in files["reconciler.yaml"]
    files["reconciler.yaml"] = files["reconciler.yaml"].replace(f"\nbackend: {backend}\n", "\nbackend: ...\n")
    return {k: v for k, v in json.loads(plan.stdout).items() if k != "backend"}, files


@pytest.fixture
def emulator(sandbox_path: Path) -> Iterator[Emulator]:
    """Direct access to the same account the CLI talks to, for arranging and inspecting."""
    emu = Emulator.open(str(sandbox_path))
    yield emu
    emu.close()


@pytest.fixture
def api(emulator: Emulator) -> ClickTimeClient:
    return ClickTimeClient(SandboxTransport(emulator))


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def write_config(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return directory


BASIC = {
    "clients.yaml": """
        clients:
          ACME:
            name: Acme Corporation
            client_number: C-1001
          GLOBEX: {name: Globex}
        """,
    "tasks.yaml": """
        tasks:
          DEV: {name: Development}
          DESIGN: {name: Design}
        """,
    "users.yaml": """
        users:
          jane@example.com: {name: Jane Doe, security_level: manager}
          bob@example.com: {name: Bob Roe}
        """,
    "jobs.yaml": """
        jobs:
          ACME:
            WEB-001:
              name: Website Redesign
              billable: true
              start_date: 2024-01-01
              project_manager: jane@example.com
              tasks: [DEV, DESIGN]
              users: [jane@example.com]
            WEB-002: {name: Shop}
          GLOBEX:
            G-1: {name: Audit, tasks: [DEV]}
        """,
}


@pytest.fixture
def basic_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config", BASIC)
