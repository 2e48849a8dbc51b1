"""The code of the fake `membrane` CLI: ./membrane runs it, and says how it works and why.

It parses argv the way the real CLI appears to (minimist: `--flag value`, `--flag=value`, `-X POST`,
repeatable flags, positionals anywhere, unknown flags refused) and answers `--version`,
`connection list|get`, `status` and `request`. It imports only modules built into the interpreter.
"""

from __future__ import annotations

import _json
import _socket
import fcntl
import posix
import sys
import time

TYPE_CHECKING = False  # typing itself is not imported at run time
if TYPE_CHECKING:
    from typing import Any, NoReturn

STARTED = time.time()
# os.environ without the os module, which -S leaves unimported (a tenth of the start-up).
ENV = {k.decode(errors="surrogateescape"): v.decode(errors="surrogateescape") for k, v in posix.environ.items()}
BOOLEAN = {"json", "version", "help", "wait", "details", "rawData", "manager", "tenant", "non-interactive",
           "shell"}
SHORT = {"X": "method", "H": "header", "d": "data", "h": "help"}
COMMON = {"json", "help", "workspaceKey", "tenantKey", "apiUri"}
FLAGS = {
    "request": COMMON | {"method", "header", "data", "query", "pathParam", "rawData"},
    "connection list": COMMON | {"limit", "cursor"},
    "connection get": COMMON | {"wait", "timeout"},
    "status": COMMON,
}
REPEATABLE = {"query", "header", "pathParam"}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
VISIBLE = frozenset(chr(c) for c in range(0x21, 0x7F)) - {"#"}  # what a request target may hold as is
DROPPED_HEADERS = {"server", "date", "content-length"}  # the HTTP server's own, not ClickTime's answer


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


# -- JSON: json.loads and json.dumps over the interpreter's _json, without the json package ---------------
class _Syntax:
    """What the interpreter's JSON scanner (the C half of json.JSONDecoder) reads from its context."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


_scan = _json.make_scanner(_Syntax())


def loads(text: str) -> Any:
    """json.loads(text); ValueError when the text is not one JSON value."""
    text = text.strip(" \t\n\r")
    try:
        value, end = _scan(text, 0)
    except (StopIteration, SystemError):
        # _json reports most syntax errors through json.decoder, which is not imported here (and
        # then raises SystemError): let the json package say what is wrong.
        import json

        return json.loads(text)
    if end != len(text):
        raise ValueError(f"Extra data: line 1 column {end + 1} (char {end})")
    return value


def dumps(value: Any, indent: int | None = None, level: int = 1) -> str:
    """json.dumps(value, indent=indent): the same text."""
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if isinstance(value, dict):
        opening, closing = "{", "}"
        parts = [f"{_json.encode_basestring_ascii(key)}: {dumps(item, indent, level + 1)}"
                 for key, item in value.items()]
    elif isinstance(value, (list, tuple)):
        opening, closing = "[", "]"
        parts = [dumps(item, indent, level + 1) for item in value]
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    if not parts:
        return opening + closing
    if indent is None:
        return opening + ", ".join(parts) + closing
    inner, outer = "\n" + " " * (indent * level), "\n" + " " * (indent * (level - 1))
    return opening + inner + ("," + inner).join(parts) + outer + closing


# -- state, faults and the log --------------------------------------------------------------
def state_path() -> str:
    value = ENV.get("FAKE_MEMBRANE_STATE")
    if not value or not posix.access(value, posix.F_OK):
        raise SystemExit("fake membrane: FAKE_MEMBRANE_STATE names no state file (FakeMembrane writes it)")
    return value


def load_state() -> dict[str, Any]:
    with open(state_path(), encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)  # take_fault rewrites the file in place
        state: dict[str, Any] = loads(handle.read())
        return state


def take_fault(command: str, method: str | None = None, path: str | None = None) -> dict[str, Any] | None:
    """The first matching fault, consumed under an exclusive lock on the state file."""
    with open(state_path(), "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        state = loads(handle.read() or "{}")
        for fault in state.get("faults", []):
            if fault.get("command", "request") not in (command, "*"):
                continue
            if fault.get("method") and fault["method"].upper() != (method or ""):
                continue
            if fault.get("path") and fault["path"] != path:
                continue
            if fault.get("times", 1) > 0:
                fault["times"] = fault.get("times", 1) - 1
                if fault["times"] == 0:
                    state["faults"].remove(fault)
            handle.seek(0)
            handle.truncate()
            handle.write(dumps(state, indent=1))
            return fault
    return None


def log(argv: list[str], code: int, crash: str | None = None) -> None:
    target = ENV.get("FAKE_MEMBRANE_LOG")
    if not target:
        return
    entry = {"argv": argv, "exit": code, "start": STARTED, "end": time.time(), "pid": posix.getpid(),
             "cwd": posix.getcwd(), "env": {k: v for k, v in ENV.items()
                                            if k.startswith("MEMBRANE_") or k in ("NO_COLOR", "FORCE_COLOR")}}
    if crash:
        entry["crash"] = crash
    with open(target, "a", encoding="utf-8") as handle:  # one write per line: appends do not interleave
        handle.write(dumps(entry) + "\n")


# -- output ---------------------------------------------------------------------------------
def dump(value: Any, state: dict[str, Any]) -> str:
    return dumps(value, indent=2 if state["shape"].get("pretty", True) else None)


def out(text: str, stream: str = "stdout") -> None:
    (sys.stderr if stream == "stderr" else sys.stdout).write(text if text.endswith("\n") else text + "\n")


def fail(error: dict[str, Any], state: dict[str, Any], code: int = 1, stream: str | None = None) -> NoReturn:
    out(dump(error, state), stream or state["shape"].get("errors", "stderr"))
    raise Exit(code)


def usage(message: str) -> NoReturn:
    out(f"Error: {message}\nRun `membrane --help` for usage.", "stderr")
    raise Exit(1)


def answer_fault(fault: dict[str, Any], state: dict[str, Any]) -> None:
    """A fault's answer other than `http` (which the request command renders)."""
    if "error" in fault:
        fail(fault["error"], state, fault.get("exit", 1), fault.get("stream"))
    if "raw" in fault:
        raw = fault["raw"]
        if raw.get("stdout"):
            sys.stdout.write(raw["stdout"])
        if raw.get("stderr"):
            sys.stderr.write(raw["stderr"])
        raise Exit(raw.get("exit", 0))


# -- argv -----------------------------------------------------------------------------------
def parse(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    positionals: list[str] = []
    flags: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positionals += argv[i + 1:]
            break
        name = value = None
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if not eq:
                value = None
        elif arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit():
            short, value = arg[1], (arg[2:] or None)
            if short not in SHORT:
                usage(f"Unknown option -{short}")
            name = SHORT[short]
        else:
            positionals.append(arg)
            i += 1
            continue
        if name not in BOOLEAN and not any(name in known for known in FLAGS.values()):
            usage(f"Unknown option --{name}")
        if name in BOOLEAN:
            flags[name] = value not in ("false", "0") if value is not None else True
        else:
            if value is None:
                if i + 1 >= len(argv):
                    usage(f"Option --{name} needs a value")
                i += 1
                value = argv[i]
            if name in REPEATABLE:
                flags.setdefault(name, []).append(value)
            elif name in flags:
                usage(f"Option --{name} given twice")
            else:
                flags[name] = value
        i += 1
    return positionals, flags


def check_flags(command: str, flags: dict[str, Any]) -> None:
    unknown = sorted(set(flags) - FLAGS[command])
    if unknown:
        usage(f"Unknown option --{unknown[0]} for `membrane {command}`")


# -- commands -------------------------------------------------------------------------------
def require_login(state: dict[str, Any]) -> None:
    if not state.get("logged_in", True):
        fail(state["assumed"]["NOT_LOGGED_IN_ERROR"], state)


def find_connection(state: dict[str, Any], wanted: str) -> dict[str, Any] | None:
    return next((c for c in state["connections"] if wanted in (c.get("id"), c.get("key"))), None)


def public(connection: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in connection.items() if not k.startswith("fake")}


def connection_list(state: dict[str, Any], flags: dict[str, Any]) -> None:
    require_login(state)
    items = [public(c) for c in state["connections"]]
    if not flags.get("json"):
        for c in items:
            out(f"{c['id']}  {c.get('name')}  {c.get('state')}")
        return
    out(dump({"items": items} if state["shape"].get("connections", "items") == "items" else items, state))


def connection_get(state: dict[str, Any], positionals: list[str]) -> None:
    require_login(state)
    if len(positionals) != 1:
        usage("connection get needs one <id-or-key>")
    found = find_connection(state, positionals[0])
    if found is None:
        fail(state["assumed"]["CONNECTION_NOT_FOUND_ERROR"], state)
    out(dump(public(found), state))


def render(status: int, body: Any, headers: dict[str, str], method: str, url: str, state: dict[str, Any]) -> None:
    """Print ClickTime's answer the way the configured shape (fakes.REQUEST_SHAPES) says the CLI does."""
    shape = state["shape"].get("request", "bare")
    if shape in ("wrapped", "full"):
        out(dump({"status": status, "headers": headers, "data" if shape == "wrapped" else "body": body}, state))
        if status >= 400 and state["shape"].get("error_exit"):
            raise Exit(int(state["shape"]["error_exit"]))
        return
    if shape == "banner":
        out(state["assumed"]["BANNER_EXAMPLE"])
    if status >= 400:
        fail({"type": state["assumed"]["HTTP_ERROR_TYPE"], "message": f"Request failed with status code {status}",
              "data": {"request": {"url": url, "method": method},
                       "response": {"status": status, "data": body, "headers": headers}}}, state)
    if body is None:
        return
    if shape == "garbage-text":
        records = body.get("data") if isinstance(body, dict) else None
        out(f"{status} OK: {len(records) if isinstance(records, list) else 1} record(s) from {url}")
        return
    if shape == "output":
        body = {"output": body}
    elif shape == "garbage":
        body = {"result": body}
    out(dump(body, state))


def request(state: dict[str, Any], positionals: list[str], flags: dict[str, Any]) -> None:
    if len(positionals) != 2:
        usage("request needs <connectionId> and <path>")
    connection_id, path = positionals
    method = str(flags.get("method", "GET")).upper()
    if method not in METHODS:
        usage(f"Invalid method {method}")
    if not path.startswith("/"):
        fail({"type": "bad_request", "message": "path must start with /"}, state)
    path, _, inline_query = path.partition("?")
    flagged = []
    for item in flags.get("query", []):
        name, eq, value = item.partition("=")
        if not eq:
            fail({"type": "bad_request", "message": f"--query expects key=value, got {item!r}"}, state)
        flagged.append((name, value))
    if state.get("collapse_repeated_query"):  # a string-to-string record: the last value wins
        flagged = list(dict(flagged).items())
    # A query written into the path travels as written (the server splits and decodes it); flagged
    # pairs are encoded whole, so that `+`, `&` and `=` in their values stay themselves.
    parts = [quote(inline_query, VISIBLE)] if inline_query else []
    query = "&".join(parts + [f"{quote(name)}={quote(value)}" for name, value in flagged])
    body = None
    if "data" in flags:
        if flags.get("json"):
            try:
                loads(flags["data"])
            except ValueError:
                fail({"type": "bad_request", "message": "-d is not valid JSON"}, state)
            body = flags["data"]
        else:  # a plain string, which ClickTime receives as a JSON string
            body = dumps(flags["data"])
    require_login(state)
    found = find_connection(state, connection_id)
    if found is None:
        fail(state["assumed"]["CONNECTION_NOT_FOUND_ERROR"], state)
    if found.get("disconnected") or found.get("state") != state["assumed"]["CONNECTION_STATE_READY"]:
        fail(state["assumed"]["DISCONNECTED_ERROR"], state)
    url = f"/connections/{connection_id}/proxy{path}"
    fault = take_fault("request", method, path)
    if fault and fault.get("delay"):
        time.sleep(float(fault["delay"]))
    if fault and not fault.get("forward_first") and "http" in fault:
        answer = fault["http"]
        render(answer.get("status", 200), answer.get("body"), answer.get("headers") or {}, method, url, state)
        return
    if fault and not fault.get("forward_first"):
        answer_fault(fault, state)
    upstream = ("/v2" if state.get("base_ends_in_v2", True) else "") + path
    if upstream.startswith("/v2/"):
        target = quote(upstream, VISIBLE) + ("?" + query if query else "")
        status, answer_body, headers = forward(method, target, body, token_of(state, found.get("fakeClickTimeUser")))
    else:
        status, answer_body, headers = not_found(method, upstream)
    if fault and "http" in fault:
        answer = fault["http"]
        render(answer.get("status", 200), answer.get("body"), answer.get("headers") or {}, method, url, state)
        return
    if fault:
        answer_fault(fault, state)
    render(status, answer_body, headers, method, url, state)


def quote(text: str, safe: frozenset[str] = UNRESERVED) -> str:
    """Percent-encode the UTF-8 bytes of every character of `text` outside `safe`."""
    return "".join(c if c in safe else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def token_of(state: dict[str, Any], user: str | None) -> str:
    """The ClickTime token the connection holds: its user's, or the owner's (FakeMembrane issues them)."""
    tokens = state["tokens"]
    if user is None:
        return str(tokens["owner"])
    if user not in tokens["users"]:
        raise SystemExit(f"fake membrane: no ClickTime token for {user!r} (FakeMembrane.save issues them)")
    return str(tokens["users"][user])


def forward(method: str, target: str, body: str | None, token: str) -> tuple[int, Any, dict[str, str]]:
    """One HTTP/1.1 exchange with the server of the test's account: (status, JSON body, headers)."""
    address = ENV.get("FAKE_MEMBRANE_CLICKTIME", "")
    host, _, port = address.removeprefix("http://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("fake membrane: FAKE_MEMBRANE_CLICKTIME is not http://HOST:PORT (FakeMembrane sets it)")
    payload = b"" if body is None else body.encode()
    head = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", f"Authorization: Token {token}",
            "Connection: close"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    received = []
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        sock.connect((host, int(port)))
        sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
        while chunk := sock.recv(1 << 16):
            received.append(chunk)
    except OSError as error:
        raise SystemExit(f"fake membrane: no answer from the ClickTime server at {address}: {error}") from None
    finally:
        sock.close()
    if not received:  # the server failed while answering: its traceback is in the test's output
        raise SystemExit(f"fake membrane: the ClickTime server at {address} hung up without an answer")
    head_bytes, _, answer = b"".join(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.lower() not in DROPPED_HEADERS:
            headers[name] = value.strip()
    return int(status_line.split()[1]), loads(answer.decode()) if answer else None, headers


def not_found(method: str, upstream: str) -> tuple[int, Any, dict[str, str]]:
    """ClickTime's answer to a path outside its API root (the connection's base URL lacks /v2)."""
    return 404, {"errors": [{"Message": f"No HTTP resource was found that matches the request URI {upstream!r}"}]}, \
        {"Content-Type": "application/json"}


def version(state: dict[str, Any]) -> None:
    text = state.get("version_output")
    out(state["assumed"]["FAKE_VERSION_OUTPUT"] if text is None else text)
    raise Exit(state.get("version_exit", 0))


def main(argv: list[str]) -> int:
    state = load_state()
    if state.get("delay"):
        time.sleep(float(state["delay"]))
    positionals, flags = parse(argv)
    command = " ".join(positionals[:2]) if positionals[:1] == ["connection"] else (positionals[:1] or [""])[0]
    fault = take_fault(command) if command not in ("request",) else None
    if fault is None and flags.get("version"):
        fault = take_fault("--version")
    if fault and fault.get("delay"):
        time.sleep(float(fault["delay"]))
    if state.get("banner"):
        out(state["banner"])
    if fault:
        answer_fault(fault, state)
    if flags.get("version") and not positionals:
        version(state)
    if command not in FLAGS:
        usage(f"Unknown command: {' '.join(positionals[:2]) or '(none)'}")
    check_flags(command, flags)
    if command == "connection list":
        connection_list(state, flags)
    elif command == "connection get":
        connection_get(state, positionals[2:])
    elif command == "request":
        request(state, positionals[1:], flags)
    elif command == "status":
        out(dump({"loggedIn": bool(state.get("logged_in", True))}, state))
    return 0


def run(argv: list[str]) -> int:
    """main(argv) with its exit code, a crash printed, and the call logged."""
    code, crash = 1, None
    try:
        code = main(argv)
    except Exit as done:
        code = done.code
    except Exception:  # a bug in the fake or the emulator: printed, logged, exit 1
        import traceback

        crash = traceback.format_exc()
        sys.stderr.write(crash)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        log(argv, code, crash)
    return code
