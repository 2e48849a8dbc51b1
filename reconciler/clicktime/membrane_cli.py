"""The `membrane` backend: ClickTime requests through Membrane's CLI (`membrane request`).

Membrane holds the ClickTime credentials; an admin runs `membrane login --tenant` and connects
ClickTime once, and this transport sends every request the ClickTime client makes as

    membrane request <connection> <path> -X <METHOD> [--query k=v]... [-d <json>] --json

(an argv list, never a shell), so paging, retries and ClickTime's rules are the same code as for
every other backend. Membrane's proxy returns ClickTime's answer unchanged; what the CLI prints
around it is not documented, so the output is parsed tolerantly (reconciler.clicktime.membrane.assumptions
lists every shape assumed). Errors map onto the project's errors:

    ClickTime's answer (status known)      -> Response(status, body): the client retries 429/5xx,
                                              raises ApiError otherwise (401 -> reconnect message)
    Membrane rate_limit_exceeded           -> Response(429): retried like the http transport's
    Membrane internal/dependency errors    -> Response(500): retried for reads; a create's outcome
                                              is unknown and the client looks it up before repeating
    not logged in / connection defunct /   -> MembraneError (a BackendError) saying how to fix it
    unknown connection / bad arguments
    a crash or an unreadable answer        -> TransportError(sent=True)
    a timeout                              -> TransportError(sent=True), the process group killed

Each call starts a Node process (about a second), so calls run with bounded concurrency
(BackendOptions.concurrency) and the ClickTime client asks for its largest pages. Set
MEMBRANE_RECORD_DIR to keep scrubbed copies of every invocation's argv, exit code and output, from
which the fakes' assumed shapes can be replaced by recorded ones.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.clicktime.client import ClickTimeClient, error_messages
from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.transport import Request, Response, TransportError
from reconciler.errors import ApiError, BackendError, ReconcilerError

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.backends import BackendOptions
    from reconciler.doctor import Check

PATH_PREFIX_ENV = "MEMBRANE_CLICKTIME_PATH_PREFIX"
RECORD_DIR_ENV = "MEMBRANE_RECORD_DIR"
HEADLESS_LOGIN = ("on a machine without a browser: `membrane login --tenant --non-interactive`, open the URL it "
                  "prints, then `membrane login complete <code>`")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
class MembraneError(BackendError):
    """Membrane could not carry the request; the message says how to fix it."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        self.detail = message
        self.fix = fix
        super().__init__(f"{message}; fix: {fix}" if fix else message)


class MembraneLoginError(MembraneError):
    """The CLI is not logged in, or Membrane rejected the API token."""


class MembraneReauthError(MembraneError):
    """The ClickTime connection needs re-authentication."""


class NotMembraneCli(MembraneError):
    """The binary does not answer like Membrane's CLI."""


@dataclass(frozen=True)
class ErrorContext:
    """What error messages need to say: which connection, and how to log in again."""

    connection_id: str
    login_fix: str = f"run `{MA.LOGIN_COMMAND}` ({HEADLESS_LOGIN})"
    connections_hint: str = "`membrane connection list --json` lists them"

    def reconnect(self) -> str:
        return f"reconnect it: `{MA.RECONNECT_COMMAND.format(id=self.connection_id)}`"


# ---------------------------------------------------------------------------------------------
# Tolerant parsing
# ---------------------------------------------------------------------------------------------
class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_JSON_START = re.compile(r"^[ \t]*[\[{]", re.M)
_USAGE_ERROR = re.compile(r"unknown (command|option|argument|flag)|unexpected argument|invalid option|"
                          r"did you mean|usage:", re.I)


def clean(text: str) -> str:
    return MA.ANSI_ESCAPE.sub("", text or "").replace("\r\n", "\n")


def find_json(text: str) -> Any:
    """The JSON value a command printed: the whole text, or the first JSON value that starts a line
    (banner lines, warnings or progress output before it are skipped). MISSING if there is none."""
    stripped = text.strip()
    if not stripped:
        return MISSING
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for match in _JSON_START.finditer(text):
        try:
            value, _ = decoder.raw_decode(text, match.end() - 1)
        except ValueError:
            continue
        return value
    return MISSING


def first_line(text: str, limit: int = 300) -> str:
    for line in clean(text).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def membrane_error(value: Any) -> dict[str, Any] | None:
    """Membrane's ErrorData {type, key?, message, data?}, unwrapped from {"error": ...}; else None.

    A ClickTime body never has a top-level `type` + `message` (its envelope is data/page/errors/meta)."""
    if not isinstance(value, dict) or "errors" in value:
        return None
    if isinstance(value.get("type"), str) and isinstance(value.get("message"), str):
        return value
    inner = value.get("error")
    if isinstance(inner, dict):
        found = membrane_error(inner)
        if found is not None:
            return found
        if isinstance(inner.get("message"), str):
            return {"type": str(inner.get("type") or ""), "key": inner.get("key") or inner.get("code"), **inner}
    if isinstance(inner, str) and "data" not in value:
        message = value.get("message") if isinstance(value.get("message"), str) else inner
        return {"type": "", "key": value.get("key") or value.get("code") or inner, "message": message}
    if value.get("code") in MA.REAUTH_KEYS and isinstance(value.get("message"), str):
        return {"type": "connection", "key": value["code"], "message": value["message"]}
    return None


def _decode_body(body: Any, status: int) -> Any:
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError:
            return {"errors": [{"Message": f"non-JSON answer (HTTP {status}): {first_line(body, 200)}"}]}
    return body


def upstream_response(status: int, body: Any, headers: Mapping[str, Any], ctx: ErrorContext) -> Response:
    """ClickTime's own answer, as Membrane's proxy passed it on."""
    body = _decode_body(body, status)
    headers = {str(k): str(v) for k, v in (headers or {}).items() if v is not None}
    if status == 401 and MA.UPSTREAM_401_MEANS_REAUTH:
        said = "; ".join(error_messages(body)) or "no message"
        raise MembraneReauthError(
            f"ClickTime rejected the credentials of Membrane connection {ctx.connection_id} (HTTP 401: {said})",
            ctx.reconnect())
    return Response(status, body, headers)


def outcome_from_error(error: Mapping[str, Any], status: int | None, headers: Mapping[str, Any],
                       ctx: ErrorContext) -> Response:
    """Membrane's ErrorData as a Response the client knows how to treat, or a MembraneError."""
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    upstream = data.get("response") if isinstance(data.get("response"), dict) else None
    if upstream is not None and isinstance(upstream.get("status"), int):
        inner = membrane_error(_decode_body(upstream.get("data"), upstream["status"]))
        if inner is not None:  # Membrane's own answer (our login, its limits), not ClickTime's
            return outcome_from_error(inner, upstream["status"], upstream.get("headers") or {}, ctx)
        return upstream_response(upstream["status"], upstream.get("data"), upstream.get("headers") or {}, ctx)
    key = str(error.get("key") or error.get("code") or "")
    kind = str(error.get("type") or "")
    message = str(error.get("message") or key or kind or "unknown error")
    status = status or MA.ERROR_STATUS_BY_KEY.get(key)
    said = f"Membrane: {message}" + (f" ({kind}/{key})" if kind or key else "")
    if key in MA.RATE_LIMIT_KEYS or status == 429:
        kept = {k: str(v) for k, v in (headers or {}).items() if str(k).lower() == "retry-after"}
        return Response(429, {"errors": [{"Message": said}]}, kept)
    if key in MA.REAUTH_KEYS or kind == "connection":
        raise MembraneReauthError(f"Membrane connection {ctx.connection_id} needs re-authentication ({said})",
                                  ctx.reconnect())
    if key == "not_authenticated" or status == 401:
        raise MembraneLoginError(f"Membrane did not accept the login ({said})", ctx.login_fix)
    if key == "access_denied" or status == 403:
        raise MembraneError(f"Membrane refused access to connection {ctx.connection_id} ({said})",
                            "log in to the workspace and tenant that own the connection, or pick another "
                            f"connection ({ctx.connections_hint})")
    if key == "not_found" or status == 404:
        raise MembraneError(f"Membrane has no connection {ctx.connection_id!r} ({said})",
                            f"pass the ID of your ClickTime connection with --connection ({ctx.connections_hint})")
    if kind in MA.RETRYABLE_TYPES or (status is not None and status >= 500):
        return Response(status if status and status >= 500 else 500, {"errors": [{"Message": said}]})
    raise MembraneError(f"Membrane refused the request ({said})")


def _wrapper_parts(value: Any) -> tuple[int, Any, Mapping[str, Any]] | None:
    """(status, body, headers) if `value` is an axios/fetch-style response object."""
    if not isinstance(value, dict) or "page" in value or "errors" in value:
        return None
    keys = MA.RESPONSE_WRAPPER_KEYS
    status = next((value[k] for k in keys["status"]
                   if isinstance(value.get(k), int) and not isinstance(value.get(k), bool)), None)
    if status is None or not 100 <= status <= 599:
        return None
    body = next((value[k] for k in keys["body"] if k in value), None)
    headers = next((value[k] for k in keys["headers"] if isinstance(value.get(k), dict)), {})
    return status, body, headers


def response_from_output(value: Any, ctx: ErrorContext) -> Response:
    """A successful command's JSON: bare ClickTime body, {status, headers, data}, or {output: ...}."""
    parts = _wrapper_parts(value)
    if parts is not None:
        status, body, headers = parts
        inner = membrane_error(_decode_body(body, status))
        if inner is not None and status >= 400:
            return outcome_from_error(inner, status, headers, ctx)
        return upstream_response(status, body, headers, ctx)
    if isinstance(value, dict) and "output" in value and "data" not in value and "errors" not in value:
        return response_from_output(value["output"], ctx)
    return Response(MA.SUCCESS_STATUS_WHEN_UNKNOWN, value, {})


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]  # without the binary
    returncode: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return clean(self.stderr) + "\n" + clean(self.stdout)


def interpret_request(result: CliResult, method: str, ctx: ErrorContext) -> Response:
    """The Response for one `membrane request`, from its exit code, stdout and stderr."""
    out_text, err_text = clean(result.stdout), clean(result.stderr)
    out = find_json(out_text)
    if result.returncode == 0 and out is not MISSING and membrane_error(out) is None:
        return response_from_output(out, ctx)
    err = find_json(err_text)
    for value in (out, err):
        found = membrane_error(value)
        if found is not None:
            return outcome_from_error(found, None, {}, ctx)
    if result.returncode == 0:
        if not out_text.strip():
            if method in MA.EMPTY_OUTPUT_MEANS:
                return Response(MA.EMPTY_OUTPUT_MEANS[method], None, {})
            raise TransportError("`membrane request` printed nothing", sent=True)
        raise TransportError(f"`membrane request` printed no JSON: {first_line(out_text)!r}", sent=True)
    # A non-zero exit without Membrane's error object.
    for value in (out, err):
        if _wrapper_parts(value) is not None:
            return response_from_output(value, ctx)
    if MA.NOT_LOGGED_IN_PATTERN.search(result.text):
        raise MembraneLoginError(f"the membrane CLI is not logged in ({first_line(err_text or out_text)})",
                                 ctx.login_fix)
    for value in (out, err):
        if isinstance(value, dict) and error_messages(value):
            return Response(400, value, {})  # ClickTime's error body; its status was not printed
    if _USAGE_ERROR.search(result.text):
        raise NotMembraneCli(f"the membrane CLI did not accept `membrane {' '.join(result.args[:1])} ...`: "
                             f"{first_line(err_text or out_text)}",
                             f"install Membrane's CLI {MA.MIN_CLI_VERSION[0]}.{MA.MIN_CLI_VERSION[1]} or later "
                             f"(`npm install -g {MA.CLI_PACKAGE}@{MA.PINNED_CLI_VERSION}`); `reconciler doctor` checks it")
    said = first_line(err_text) or first_line(out_text) or "no output"
    raise TransportError(f"`membrane request` exited with code {result.returncode}: {said}", sent=True)


# ---------------------------------------------------------------------------------------------
# Running the CLI
# ---------------------------------------------------------------------------------------------
_SECRETS = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "<jwt>"),
    (re.compile(r"(?i)(bearer|token)\s+[\w.~+/=-]{8,}"), r"\1 <secret>"),
    (re.compile(r'(?i)("[\w-]*(token|secret|password|apikey|api_key|credentials)[\w-]*"\s*:\s*)"[^"]*"'),
     r'\1"<secret>"'),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class CliRunner:
    """Runs the membrane CLI: argv lists only, stdin closed, bounded concurrency, killed on timeout."""

    def __init__(self, command: list[str], timeout: float, concurrency: int = MA.DEFAULT_CLI_CONCURRENCY,
                 record_dir: str | os.PathLike[str] | None = None) -> None:
        self.command = list(command)
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
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
        with self._slots:
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


def resolve_command(options: BackendOptions) -> tuple[list[str], str]:
    """The CLI to run and where that came from: MEMBRANE_BIN, then the settings' membrane.binary,
    then `membrane` on PATH. MEMBRANE_BIN may hold a command with arguments (`npx -y @membranehq/cli@1.18.0`)."""
    for source, configured in (("MEMBRANE_BIN", os.environ.get("MEMBRANE_BIN", "").strip()),
                               ("reconciler.yaml membrane.binary", str(options.membrane.get("binary") or "").strip())):
        if not configured:
            continue
        parts = [configured] if os.path.isfile(configured) else shlex.split(configured)
        found = shutil.which(parts[0]) if parts else None
        if not found:
            raise MembraneError(f"{source} names {parts[0] if parts else configured!r}, which is not an executable",
                                f"point {source} at Membrane's CLI, or {MA.INSTALL_HINT}")
        return [found, *parts[1:]], source
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


def path_prefix() -> str:
    prefix = os.environ.get(PATH_PREFIX_ENV, MA.PATH_BELOW_API_ROOT).strip().rstrip("/")
    return prefix if not prefix or prefix.startswith("/") else "/" + prefix


# ---------------------------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------------------------
def connection_items(value: Any) -> list[dict[str, Any]] | None:
    """The connections in `connection list --json` output or GET /connections: list or {items}."""
    if isinstance(value, dict):
        for key in ("items", "connections", "output", "data"):
            if key in value:
                return connection_items(value[key])
        return None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    return None


def is_clicktime(connection: Mapping[str, Any]) -> bool:
    integration = connection.get("integration") if isinstance(connection.get("integration"), dict) else {}
    connector = connection.get("connector") if isinstance(connection.get("connector"), dict) else {}
    texts = [connection.get("integrationKey"), connection.get("connectorKey"), integration.get("key"),
             integration.get("name"), connector.get("key"), connector.get("name"), connection.get("name"),
             connection.get("key")]
    return any(marker in str(text).lower() for text in texts if text for marker in MA.CLICKTIME_MARKERS)


def connection_problem(connection: Mapping[str, Any]) -> str | None:
    """Why the connection cannot be used now, or None when it is ready."""
    if connection.get("archivedAt"):
        return "archived"
    if connection.get("disconnected") or connection.get("isDefunct"):
        return "disconnected: needs re-authentication"
    state = connection.get("state")
    if state and state != MA.CONNECTION_STATE_READY:
        action = connection.get("clientAction") if isinstance(connection.get("clientAction"), dict) else {}
        return f"state {state}" + (f" ({action.get('description') or action.get('type')})" if action else "")
    return None


def describe(connection: Mapping[str, Any]) -> str:
    name = connection.get("name") or (connection.get("integration") or {}).get("name") or "unnamed"
    return f"{connection.get('id')} ({name}): {connection_problem(connection) or 'ready'}"


def find_connection(connections: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    return next((c for c in connections if wanted in (c.get("id"), c.get("key"))), None)


def choose_connection(connections: list[dict[str, Any]], connect_hint: str = MA.CONNECT_COMMAND) -> dict[str, Any]:
    """The one ready ClickTime connection; otherwise an error that lists the candidates."""
    clicktime = [c for c in connections if is_clicktime(c)]
    ready = [c for c in clicktime if connection_problem(c) is None]
    if len(ready) == 1:
        return ready[0]
    choose = ("choose one with --connection ID, MEMBRANE_CONNECTION_ID, or `membrane: {connection: ID}` in "
              "reconciler.yaml")
    if not clicktime:
        others = "".join(f"\n  - {describe(c)}" for c in connections) or " none"
        raise MembraneError(f"Membrane has no ClickTime connection (connections:{others})",
                            f"connect ClickTime: `{connect_hint}`; then {choose}")
    listing = "".join(f"\n  - {describe(c)}" for c in clicktime)
    if not ready:
        first = clicktime[0].get("id")
        raise MembraneReauthError(f"no ClickTime connection is ready:{listing}",
                                  f"reconnect it: `{MA.RECONNECT_COMMAND.format(id=first)}`")
    raise MembraneError(f"{len(ready)} ClickTime connections are ready:{listing}", choose)


def configured_connection(options: BackendOptions) -> tuple[str | None, str]:
    """(ID, where it came from): --connection, then MEMBRANE_CONNECTION_ID, then reconciler.yaml."""
    from_settings = options.membrane.get("connection")
    if options.connection and options.connection != from_settings:
        return options.connection, "--connection"
    env = os.environ.get("MEMBRANE_CONNECTION_ID", "").strip()
    if env:
        return env, "MEMBRANE_CONNECTION_ID"
    if from_settings:
        return str(from_settings), "reconciler.yaml"
    return None, ""


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
            raise MembraneLoginError(f"the membrane CLI is not logged in ({first_line(result.stderr or result.stdout)})",
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


# ---------------------------------------------------------------------------------------------
# The transport and the backend
# ---------------------------------------------------------------------------------------------
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
    def __init__(self, runner: CliRunner, connection_id: str, prefix: str = "") -> None:
        self.runner = runner
        self.connection_id = connection_id
        self.prefix = prefix
        self.context = ErrorContext(connection_id)

    def __repr__(self) -> str:
        return f"MembraneCliTransport({self.connection_id!r})"

    @property
    def processes(self) -> int:
        return self.runner.processes

    def send(self, request: Request) -> Response:
        result = self.runner.run(request_args(self.connection_id, self.prefix + request.path, request))
        return interpret_request(result, request.method.upper(), self.context)

    def close(self) -> None:
        pass


def make_runner(options: BackendOptions, command: list[str]) -> CliRunner:
    return CliRunner(command, timeout=options.timeout + MA.CLI_STARTUP_ALLOWANCE, concurrency=options.concurrency,
                     record_dir=os.environ.get(RECORD_DIR_ENV) or None)


def open_membrane_cli(options: BackendOptions) -> ClickTimeClient:
    """The `membrane` backend: the ClickTime client over `membrane request`."""
    command, _ = resolve_command(options)
    runner = make_runner(options, command)
    connection_id, _ = configured_connection(options)
    if connection_id is None:
        connection_id = str(choose_connection(list_connections(runner))["id"])
    client = ClickTimeClient(MembraneCliTransport(runner, connection_id, path_prefix()),
                             rate_limit=options.rate_limit, concurrency=options.concurrency)
    client.calls += runner.processes  # the statistics count every membrane call, the connection lookup too
    return client


# ---------------------------------------------------------------------------------------------
# reconciler doctor
# ---------------------------------------------------------------------------------------------
def query_forwarding_check(transport: Any) -> Check:
    """Repeated query parameters must reach ClickTime as such (lists ask IsActive=true&IsActive=false):
    the count for both must be the sum of the counts for each."""
    from reconciler.doctor import Check

    name = "repeated query parameters"
    client = ClickTimeClient(transport, concurrency=1)

    def count(*values: str) -> int:
        body = client.request("GET", "/Tasks", [*(("IsActive", v) for v in values), ("limit", "1"), ("offset", "0")])
        return int(((body or {}).get("page") or {})["count"])

    try:
        active, inactive, both = count("true"), count("false"), count("true", "false")
    except ApiError as error:
        fix = None
        if error.status == 404:
            fix = (f"the connector's base URL may not include ClickTime's /v2: try {PATH_PREFIX_ENV}=/v2")
        return Check(name, False, f"GET /Tasks through Membrane failed: {error}", fix)
    except (KeyError, TypeError, ValueError):
        return Check(name, False, "GET /Tasks through Membrane gave no page.count",
                     f"the proxy's answer is not ClickTime's; check the connection, or {PATH_PREFIX_ENV}")
    except ReconcilerError as error:
        return Check(name, False, str(error), getattr(error, "fix", None))
    detail = f"tasks: {active} active + {inactive} inactive, {both} with both filters"
    if both != active + inactive:
        return Check(name, False, detail + ": repeated --query parameters do not reach ClickTime",
                     "this Membrane version folds repeated query parameters, so lists would miss records; use "
                     "another CLI version or the membrane-api backend")
    return Check(name, True, detail)


def _fail(name: str, error: MembraneError | str, fix: str | None = None) -> Check:
    from reconciler.doctor import Check

    if isinstance(error, MembraneError):  # one line per check: candidate lists joined
        return Check(name, False, error.detail.replace(":\n  - ", ": ").replace("\n  - ", "; "), error.fix or fix)
    return Check(name, False, error, fix)


def connection_checks(connections: list[dict[str, Any]], options: BackendOptions,
                      connect_hint: str = MA.CONNECT_COMMAND) -> tuple[list[Check], str | None]:
    """The connection check shared by both Membrane backends: (checks, usable connection ID)."""
    from reconciler.doctor import Check

    name = "ClickTime connection"
    wanted, source = configured_connection(options)
    if wanted is None:
        try:
            chosen = choose_connection(connections, connect_hint)
        except MembraneError as error:
            return [_fail(name, error)], None
        return [Check(name, True, f"{describe(chosen)} (the only ready ClickTime connection)")], str(chosen["id"])
    found = find_connection(connections, wanted)
    if found is None:
        listing = ", ".join(describe(c) for c in connections if is_clicktime(c)) or "none"
        return [Check(name, False, f"{wanted} (from {source}) is not among the connections Membrane lists "
                                   f"(ClickTime connections: {listing})",
                      f"use the ID of a ClickTime connection, or connect ClickTime: `{connect_hint}`")], None
    problem = connection_problem(found)
    if problem is not None:
        return [Check(name, False, f"{describe(found)} (from {source})",
                      f"reconnect it: `{MA.RECONNECT_COMMAND.format(id=found.get('id'))}`")], None
    return [Check(name, True, f"{describe(found)} (from {source})")], str(found["id"])


def preflight(options: BackendOptions) -> list[Check]:
    """Binary, version, login, connection state, and that lists reach ClickTime whole."""
    from reconciler.doctor import Check

    checks: list[Check] = []
    try:
        command, source = resolve_command(options)
    except MembraneError as error:
        return [_fail("membrane CLI", error)]
    checks.append(Check("membrane CLI", True, f"{shlex.join(command)} (from {source})"))
    runner = make_runner(options, command)
    try:
        result = runner.run(["--version"])
    except (MembraneError, TransportError) as error:
        return checks + [_fail("membrane CLI version", str(error), MA.INSTALL_HINT)]
    version = parse_version(result)
    if result.returncode != 0 or version is None:
        said = first_line(result.stdout) or first_line(result.stderr) or "no output"
        return checks + [Check("membrane CLI version", False,
                               f"`{command[0]} --version` answered {said!r} (exit {result.returncode}): "
                               "this is not Membrane's CLI",
                               f"{MA.INSTALL_HINT}, or set MEMBRANE_BIN to Membrane's CLI")]
    shown = ".".join(map(str, version))
    if version[:2] < MA.MIN_CLI_VERSION:
        return checks + [Check("membrane CLI version", False, f"{shown} is too old for `membrane request`",
                               f"`npm install -g {MA.CLI_PACKAGE}@{MA.PINNED_CLI_VERSION}`")]
    checks.append(Check("membrane CLI version", True, shown))
    try:
        connections = list_connections(runner)
    except MembraneError as error:
        name = "membrane login" if isinstance(error, MembraneLoginError) else "membrane connection list"
        return checks + [_fail(name, error)]
    checks.append(Check("membrane login", True, f"logged in; {len(connections)} connection(s) visible"))
    found, connection_id = connection_checks(connections, options)
    checks += found
    if connection_id is None:
        return checks
    checks.append(query_forwarding_check(MembraneCliTransport(runner, connection_id, path_prefix())))
    return checks
