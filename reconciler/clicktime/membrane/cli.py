"""The `membrane` transport: ClickTime requests through Membrane's CLI (`membrane request`).

Membrane holds the ClickTime credentials; an admin runs `membrane login --tenant` and connects
ClickTime once, and this transport sends every request the ClickTime client makes as

    membrane request <connection> <path> -X <METHOD> [--query k=v]... [-d <json>] --json

(an argv list, never a shell), so paging, retries and ClickTime's rules are the same code as for
every other backend. A timeout kills the process group and counts as TransportError(sent=True).
Each call starts a Node process (about half a second), so the number of requests is what a user
waits for. Set MEMBRANE_RECORD_DIR to keep scrubbed copies of every invocation's argv, exit code
and output, from which the fakes' assumed shapes can be replaced by recorded ones.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.membrane.basepath import BasePath
from reconciler.clicktime.membrane.connections import choose_connection, connection_items
from reconciler.clicktime.membrane.errors import ErrorContext, MembraneError, MembraneLoginError, NotMembraneCli
from reconciler.clicktime.membrane.protocol import (
    CliResult,
    clean,
    find_json,
    first_line,
    interpret_request,
    membrane_error,
)
from reconciler.clicktime.transport import Request, Response, TransportError
from reconciler.secrets import scrub

PATH_PREFIX_ENV = "MEMBRANE_CLICKTIME_PATH_PREFIX"
RECORD_DIR_ENV = "MEMBRANE_RECORD_DIR"


class CliRunner:
    """Runs the membrane CLI: argv lists only, stdin closed, bounded concurrency, killed on timeout."""

    def __init__(self, command: list[str], timeout: float, record_dir: str | os.PathLike[str] | None = None) -> None:
        self.command = list(command)
        self.timeout = timeout
        self._lock = threading.Lock()
        self.processes = 0
        self.record_dir = Path(record_dir) if record_dir else None
        self._sequence = itertools.count(1)
        self.env = {**os.environ, **MA.CLI_ENV}

    def __repr__(self) -> str:
        return f"CliRunner({self.command!r})"

    def run(self, args: Iterable[str], timeout: float | None = None) -> CliResult:
        args = tuple(str(a) for a in args)
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        with self._lock:
            self.processes += 1
        try:
            process = subprocess.Popen([*self.command, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, env=self.env, start_new_session=True)
        except FileNotFoundError:
            raise MembraneError(f"cannot run {self.command[0]}: no such file",
                                f"{MA.INSTALL_HINT}, or set MEMBRANE_BIN to the CLI's path") from None
        except PermissionError:
            raise MembraneError(f"cannot run {self.command[0]}: not executable",
                                "make it executable, or set MEMBRANE_BIN to Membrane's CLI") from None
        try:
            stdout, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            self._kill(process)
            raise TransportError(f"`membrane {args[0] if args else ''}` gave no answer within {limit:g} s",
                                 sent=True) from None
        result = CliResult(args, process.returncode, stdout.decode("utf-8", "replace"),
                           stderr.decode("utf-8", "replace"))
        self._record(result, time.monotonic() - started)
        return result

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # Node, and anything npx started under it
        except (AttributeError, ProcessLookupError, PermissionError):
            process.kill()
        process.communicate()

    def _record(self, result: CliResult, seconds: float) -> None:
        if self.record_dir is None:
            return
        self.record_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            number = next(self._sequence)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{number:05d}-{(result.args or ('none',))[0]}.json"
        record = {"argv": ["membrane", *result.args], "exit": result.returncode, "seconds": round(seconds, 3),
                  "stdout": scrub(result.stdout), "stderr": scrub(result.stderr)}
        (self.record_dir / name).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def resolve_command(binary: str | None) -> tuple[list[str], str]:
    """The CLI to run and where that came from: MEMBRANE_BIN (`binary`), then `membrane` on PATH.
    MEMBRANE_BIN may hold a command with arguments (`npx -y @membranehq/cli@1.18.0`). It is never
    read from reconciler.yaml: a pull request must not choose the program a plan runs."""
    configured = (binary or "").strip()
    if configured:
        parts = [configured] if os.path.isfile(configured) else shlex.split(configured)
        found = shutil.which(parts[0]) if parts else None
        if not found:
            raise MembraneError(f"MEMBRANE_BIN names {parts[0] if parts else configured!r}, which is not an "
                                "executable", f"point MEMBRANE_BIN at Membrane's CLI, or {MA.INSTALL_HINT}")
        return [found, *parts[1:]], "MEMBRANE_BIN"
    found = shutil.which(MA.CLI_BINARY)
    if not found:
        raise MembraneError(
            "the membrane backend needs Membrane's CLI, and `membrane` is not on PATH",
            f"{MA.INSTALL_HINT} (or set MEMBRANE_BIN to its path), log in with `{MA.LOGIN_COMMAND}`, "
            f"and connect ClickTime (`{MA.CONNECT_COMMAND}`)")
    return [found], "PATH"


def parse_version(result: CliResult) -> tuple[int, int, int] | None:
    match = MA.VERSION_PATTERN.search(clean(result.stdout) + "\n" + clean(result.stderr))
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def path_prefix() -> str | None:
    """MEMBRANE_CLICKTIME_PATH_PREFIX when set (`` or `/v2`); None: found at first contact."""
    value = os.environ.get(PATH_PREFIX_ENV)
    if value is None:
        return None
    prefix = value.strip().rstrip("/")
    return prefix if not prefix or prefix.startswith("/") else "/" + prefix


def request_args(connection_id: str, path: str, request: Request) -> list[str]:
    args = ["request", connection_id, path, "-X", request.method.upper()]
    for name, value in request.query:
        args += ["--query", f"{name}={value}"]
    if request.body is not None:
        args += ["-d", json.dumps(request.body, separators=(",", ":"))]
    if request.body is not None or MA.REQUEST_JSON_FLAG_ALWAYS:
        args.append("--json")
    return args


class MembraneCliTransport:
    def __init__(self, runner: CliRunner, connection_id: str, prefix: str | None = "") -> None:
        self.runner = runner
        self.connection_id = connection_id
        self.base = BasePath(prefix)
        self.context = ErrorContext(connection_id)
        self.setup_calls = 0  # calls made before the first request (finding the connection)

    def __repr__(self) -> str:
        return f"MembraneCliTransport({self.connection_id!r})"

    @property
    def processes(self) -> int:
        return self.runner.processes

    def send(self, request: Request) -> Response:
        def send_at(path: str) -> Response:
            result = self.runner.run(request_args(self.connection_id, path, request))
            return interpret_request(result, request.method.upper(), self.context)

        return self.base.send(send_at, request.path)

    def close(self) -> None:
        pass


def list_connections(runner: CliRunner) -> list[dict[str, Any]]:
    """`membrane connection list --json`, tolerantly parsed."""
    ctx = ErrorContext("?")
    try:
        result = runner.run(MA.CONNECTION_LIST_ARGS)
    except TransportError as error:
        raise MembraneError(f"`membrane connection list` failed: {error}") from None
    out, err = find_json(clean(result.stdout)), find_json(clean(result.stderr))
    for value in (out, err):
        found = membrane_error(value)
        if found is not None:
            key = str(found.get("key") or "")
            if key == "not_authenticated" or MA.NOT_LOGGED_IN_PATTERN.search(str(found.get("message"))):
                raise MembraneLoginError(f"the membrane CLI is not logged in ({found.get('message')})", ctx.login_fix)
            raise MembraneError(f"`membrane connection list` failed: {found.get('message')}")
    if result.returncode != 0:
        if MA.NOT_LOGGED_IN_PATTERN.search(result.text):
            said = first_line(result.stderr or result.stdout)
            raise MembraneLoginError(f"the membrane CLI is not logged in ({said})",
                                     ctx.login_fix)
        raise NotMembraneCli(f"`membrane connection list --json` failed (exit {result.returncode}): "
                             f"{first_line(result.stderr) or first_line(result.stdout) or 'no output'}",
                             "run `reconciler doctor`; check that `membrane` is Membrane's CLI")
    items = connection_items(out)
    if items is None:
        raise NotMembraneCli(f"`membrane connection list --json` printed no connection list "
                             f"({first_line(result.stdout) or 'nothing'!r})",
                             f"check that {runner.command[0]} is Membrane's CLI ({MA.CLI_PACKAGE}); "
                             "`reconciler doctor` checks it")
    return items


def make_runner(command: list[str], timeout: float) -> CliRunner:
    return CliRunner(command, timeout=timeout + MA.CLI_STARTUP_ALLOWANCE,
                     record_dir=os.environ.get(RECORD_DIR_ENV) or None)


def open_cli_transport(binary: str | None, connection: str | None, timeout: float) -> MembraneCliTransport:
    """`membrane request` as a transport, on `connection` or else the one ready ClickTime connection."""
    command, _ = resolve_command(binary)
    runner = make_runner(command, timeout)
    if connection is None:
        connection = str(choose_connection(list_connections(runner))["id"])
    transport = MembraneCliTransport(runner, connection, path_prefix())
    transport.setup_calls = runner.processes
    return transport
