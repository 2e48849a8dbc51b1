"""Test doubles for Membrane: the fake `membrane` CLI (./membrane) and the fake API (membrane_api_server.py).

Both forward ClickTime requests to the emulator. By default they produce the shapes listed in
reconciler.clicktime.membrane.assumptions; on request they produce every other shape Membrane's
documents allow, and some no document describes (REQUEST_SHAPES), so that the tool's parser can be
tested against each. `FakeMembrane` arranges the fake CLI for a test: the emulator's HTTP server it
forwards to, its state file (connections, login, output shapes, injected faults, tokens and the
assumed strings it prints) and its invocation log. Close it when the test ends (or use it in a
`with` block): that stops the server.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.clicktime.membrane import assumptions as MA
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.server import EmulatorServer, Knobs

FAKES = Path(__file__).resolve().parent
FAKE_CLI = FAKES / "membrane"  # runs ./membrane_cli.py
DEFAULT_CONNECTION_ID = "con_clicktime_1"
# What the fake CLI prints from reconciler.clicktime.membrane.assumptions; it imports no project
# code, so FakeMembrane writes these into its state file ("assumed").
ASSUMED = ("FAKE_VERSION_OUTPUT", "BANNER_EXAMPLE", "HTTP_ERROR_TYPE", "CONNECTION_STATE_READY",
           "NOT_LOGGED_IN_ERROR", "CONNECTION_NOT_FOUND_ERROR", "DISCONNECTED_ERROR")


def connection(id: str = DEFAULT_CONNECTION_ID, name: str = "ClickTime", state: str = "READY",
               disconnected: bool = False, integration: str = "clicktime", user: str | None = None,
               **extra: Any) -> dict[str, Any]:
    """A connection as Membrane's API describes it (SDK ConnectionApiResponse fields). `user` is fake-only:
    the ClickTime user whose API token the connection holds (None: the account owner, an admin)."""
    record: dict[str, Any] = {
        "id": id, "name": name, "state": state, "disconnected": disconnected, "isTest": False,
        "integrationId": f"int_{integration}", "integration": {"key": integration, "name": name},
        "createdAt": "2026-11-01T10:00:00.000Z", "updatedAt": "2026-11-20T10:00:00.000Z",
        "fakeClickTimeUser": user,
    }
    if disconnected or state == "CLIENT_ACTION_REQUIRED":
        record["clientAction"] = {"type": "connect", "description": "Reconnect to ClickTime"}
    record.update(extra)
    return record


def public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("fake")}


# What `membrane request` prints, by the state's shape.request. Where the status is not printed, an
# answer of 400 or more is Membrane's ErrorData (data.response = {status, data, headers}) on the
# error stream with exit 1; `wrapped` and `full` print every answer the same way, exiting with
# shape.error_exit (default 0) for 400 or more.
REQUEST_SHAPES = {
    "bare": "ClickTime's body as JSON (the proxy passes it on unchanged)",
    "wrapped": '{"status", "headers", "data"}: an axios-style response object',
    "output": '{"output": body}: the shape `action run` prints',
    "full": '{"status", "headers", "body"}: "the full response object" of the integrate-anything skill\'s --json',
    "banner": "a non-JSON update notice on stdout, then the bare body",
    "garbage": '{"result": body}: JSON of a shape no document describes',
    "garbage-text": "plain text (a status line and a summary), no JSON at all",
}


def default_state() -> dict[str, Any]:
    return {
        "logged_in": True,
        "version_output": None,  # None: assumed.FAKE_VERSION_OUTPUT
        "version_exit": 0,
        "connections": [connection()],
        # request: a REQUEST_SHAPES name; connections: items | list; errors: stderr | stdout;
        # error_exit: the exit code of `wrapped` and `full` for an answer of 400 or more
        "shape": {"request": "bare", "connections": "items", "errors": "stderr", "pretty": True, "error_exit": 0},
        "banner": None,  # a non-JSON line printed before every command's output
        "delay": 0.0,  # seconds every invocation sleeps first
        # Membrane's request API takes `query` as a string-to-string record (SDK ConnectionProxyRequest):
        # repeated --query keys fold into one, the last value winning. A query written into the path
        # travels verbatim and keeps its repeated keys.
        "collapse_repeated_query": False,
        # Whether the connection's base URL already ends in /v2: True, /Jobs reaches ClickTime's
        # /v2/Jobs; False, only /v2/Jobs does (and /Jobs is ClickTime's 404).
        "base_ends_in_v2": True,
        "faults": [],
    }


class ClickTimeServer(EmulatorServer):
    """The test's account over HTTP on loopback, for the fake CLI to forward to. The owner's token is
    knobs.token; each user a connection acts as gets a token of its own, kept here rather than in the
    account's settings (Emulator.add_token), which a reset of the account would clear."""

    def __init__(self, sandbox: Path) -> None:
        super().__init__(Emulator.open(str(sandbox)), knobs=Knobs(token=secrets.token_hex(8)))
        self.users: dict[str, str] = {}  # token: email

    def tokens(self) -> dict[str, str]:
        return self.users

    def token_for(self, email: str) -> str:
        found = next((token for token, user in self.users.items() if user == email), None)
        if found is None:
            found = secrets.token_hex(8)
            self.users[found] = email
        return found

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        super().stop()
        self.emulator.close()


class FakeMembrane:
    """Arrange the fake CLI for one test: `env()` is what to put in the environment, `close()` (or the
    end of a `with` block) stops the server of the account."""

    def __init__(self, directory: Path, sandbox: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.sandbox = Path(sandbox)
        self.state_file = directory / "state.json"
        self.log_file = directory / "calls.jsonl"
        # `#!/usr/bin/env -S python3 -S` finds this interpreter first: the same Python as the tests,
        # and no pyenv shim in between (which would triple the start-up time of every call).
        self.python_dir = directory / "python"
        self.python_dir.mkdir(exist_ok=True)
        link = self.python_dir / "python3"
        if not link.exists():
            link.symlink_to(sys.executable)
        self.clicktime: ClickTimeServer | None = ClickTimeServer(self.sandbox).start()
        self.origin = self.clicktime.origin
        self.state = default_state()
        self.save()

    def close(self) -> None:
        """Stop the account's server; calls of the fake CLI fail from now on."""
        if self.clicktime is not None:
            self.clicktime.stop()
            self.clicktime = None

    def __enter__(self) -> FakeMembrane:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.pathsep.join([str(FAKES), str(self.python_dir), os.environ.get("PATH", "")]),
            "FAKE_MEMBRANE_STATE": str(self.state_file),
            "FAKE_MEMBRANE_LOG": str(self.log_file),
            "FAKE_MEMBRANE_CLICKTIME": self.origin,
            "FAKE_MEMBRANE_PYCACHE": str(self.directory / "pycache"),
        }

    def save(self) -> None:
        """Write the state for the fake CLI, with what it cannot know by itself: the assumed strings
        and the ClickTime token of the owner and of every connection's user."""
        if self.clicktime is not None:
            users = {c["fakeClickTimeUser"] for c in self.state["connections"] if c.get("fakeClickTimeUser")}
            self.state["tokens"] = {"owner": self.clicktime.knobs.token,
                                    "users": {user: self.clicktime.token_for(user) for user in sorted(users)}}
        self.state["assumed"] = {name: getattr(MA, name) for name in ASSUMED}
        self.state_file.write_text(json.dumps(self.state, indent=1), encoding="utf-8")

    def load(self) -> dict[str, Any]:
        self.state = json.loads(self.state_file.read_text(encoding="utf-8"))
        return self.state

    def set(self, **changes: Any) -> None:
        self.load()
        for name, value in changes.items():
            if name == "shape":
                self.state["shape"].update(value)
            else:
                self.state[name] = value
        self.save()

    def request_shape(self, name: str, **shape: Any) -> None:
        """Print `membrane request` answers in the REQUEST_SHAPES shape `name` (other shape keys too)."""
        if name not in REQUEST_SHAPES:
            raise ValueError(f"unknown request shape {name!r}; known: {', '.join(REQUEST_SHAPES)}")
        self.set(shape={"request": name, **shape})

    def fold_repeated_query(self, on: bool = True) -> None:
        """Fold repeated --query keys the way Membrane's string-to-string query record does."""
        self.set(collapse_repeated_query=on)

    def add_fault(self, **fault: Any) -> None:
        """Make matching calls misbehave. Match: command ("request" default; "connection list",
        "--version", "*"), method, path (exact, without the query). Then, in order: `delay` seconds;
        `forward_first` (the emulator applies the request before the fault answers); and one answer:
        `http` {status, body, headers} as if ClickTime said it, `error` (Membrane ErrorData; with
        `exit`, default 1, and `stream`), or `raw` {stdout, stderr, exit}. `times` (default 1; -1 forever)."""
        self.load()
        self.state["faults"].append({"command": "request", "times": 1, **fault})
        self.save()

    def faults_left(self) -> list[dict[str, Any]]:
        return self.load()["faults"]

    def calls(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text(encoding="utf-8").splitlines() if line.strip()]

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]

    def requests(self) -> list[tuple[str, str, list[str]]]:
        """(method, path, query k=v list) of every `request` call, in order of completion."""
        found = []
        for argv in self.argvs():
            if argv[:1] != ["request"]:
                continue
            method = argv[argv.index("-X") + 1] if "-X" in argv else "GET"
            query = [argv[i + 1] for i, a in enumerate(argv) if a == "--query"]
            found.append((method, argv[2], query))
        return found

    def clear_log(self) -> None:
        if self.log_file.exists():
            self.log_file.unlink()
