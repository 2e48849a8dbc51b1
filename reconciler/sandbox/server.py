"""The emulator over HTTP on loopback, with knobs for latency, rate limits, injected faults and a
response style (reconciler.sandbox.styles); and a recorded cassette served the same way (ReplayServer).

Paths are ClickTime's below /v2; GET /_emulator/stats (outside them) counts the calls served.
"""

from __future__ import annotations

import json
import math
import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from reconciler.clicktime.cassette import Cassette, ReplayTransport, load_cassette
from reconciler.clicktime.transport import Request, Response
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.styles import DEFAULT_STYLE, ResponseStyle, handle, styled

DEFAULT_TOKEN = "sandbox-token"
FAULTS = ("500", "502", "503", "429", "drop", "slow")
ID_SEGMENT = re.compile(r"/(?!new\b)[A-Za-z0-9]{20,}")


@dataclass
class Knobs:
    latency_ms: float = 0.0
    rate_limit: float | None = None  # requests per second; beyond it 429 with Retry-After
    max_page_size: int | None = None
    fault_rate: float = 0.0
    seed: int | None = None
    slow_seconds: float = 3.0  # how late a "slow" fault answers (longer than the client's timeout)
    token: str = DEFAULT_TOKEN
    truncate_lists: bool = False  # drop the last record of every list page, keeping page.count
    style: ResponseStyle = DEFAULT_STYLE  # how the real service might answer (reconciler.sandbox.styles)


class _ServerRateLimit:
    """Token bucket with one second of burst; answers how long to wait when empty."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.updated = rate, rate, time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class ApiServer(ThreadingHTTPServer):
    """ClickTime's REST API on loopback with the knobs applied; subclasses say who answers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0, knobs: Knobs | None = None) -> None:
        self.knobs = knobs or Knobs()
        self.random = random.Random(self.knobs.seed)
        self.random_lock = threading.Lock()
        self.limit = _ServerRateLimit(self.knobs.rate_limit) if self.knobs.rate_limit else None
        self.stats: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.stats_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    def answer(self, request: Request, caller: str | None) -> Response:
        """The unstyled answer to an authenticated request."""
        raise NotImplementedError

    def respond(self, request: Request, caller: str | None) -> Response:
        """The answer in the configured style."""
        if self.knobs.style.is_default:
            return self.answer(request, caller)
        return styled(self.knobs.style, lambda r: self.answer(r, caller), request, self.url)

    def tokens(self) -> dict[str, str]:
        """Tokens other than knobs.token that are accepted, and the user email each acts as."""
        return {}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v2"

    def start(self) -> Self:
        """Serve from a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="emulator-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (killed, timed out) is not an error worth printing."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def draw_fault(self) -> str | None:
        if self.knobs.fault_rate <= 0:
            return None
        with self.random_lock:
            if self.random.random() >= self.knobs.fault_rate:
                return None
            return self.random.choice(FAULTS)

    def record(self, method: str, path: str, fault: str | None) -> None:
        with self.stats_lock:
            self.stats["total"] += 1
            self.stats[f"{method} {ID_SEGMENT.sub('/{id}', path)}"] += 1
            if fault:
                self.faults[fault] += 1

    def caller_for(self, header: str | None) -> tuple[bool, str | None]:
        """(valid, caller email) for an Authorization header; None email is the owner."""
        if not header or not header.startswith("Token "):
            return False, None
        token = header[len("Token "):].strip()
        if token == self.knobs.token:
            return True, None
        users = self.tokens()
        return (True, users[token]) if token in users else (False, None)


class EmulatorServer(ApiServer):
    """The emulator's account over HTTP."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, knobs: Knobs | None = None) -> None:
        self.emulator = emulator
        knobs = knobs or Knobs()
        if knobs.max_page_size:
            emulator.max_page_size = knobs.max_page_size
        super().__init__(host, port, knobs)

    def answer(self, request: Request, caller: str | None) -> Response:
        return handle(self.knobs.style, self.emulator, request, caller)

    def tokens(self) -> dict[str, str]:
        found: dict[str, str] = self.emulator.store.get_setting("tokens", {})
        return found


class ReplayServer(ApiServer):
    """A recorded cassette over HTTP: each request is answered by the recorded exchange with the same
    method, path and query (reconciler.clicktime.cassette.ReplayTransport), 404 when there is none.
    Only `token` is accepted; the other knobs (latency, faults, style, stats) work as for the emulator."""

    def __init__(self, cassette: Cassette, host: str = "127.0.0.1", port: int = 0, token: str = DEFAULT_TOKEN,
                 knobs: Knobs | None = None) -> None:
        self.cassette = cassette
        self.replay = ReplayTransport(cassette)
        super().__init__(host, port, replace(knobs or Knobs(), token=token))

    def answer(self, request: Request, caller: str | None) -> Response:
        return self.replay.send(request)


def replay_server(directory: str | Path, host: str = "127.0.0.1", port: int = 0, token: str = DEFAULT_TOKEN,
                  knobs: Knobs | None = None) -> ReplayServer:
    """A ReplayServer for the cassette in `directory` (`reconciler sandbox serve --replay DIR`).
    Raises CassetteError (a ReconcilerError) when the cassette is missing or malformed."""
    return ReplayServer(load_cassette(directory), host, port, token, knobs)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and delayed
        # ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and benchmarks
        pass

    def _send(self, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(Response(status, {"data": None, "errors": [{"Field": None, "Message": message}]},
                            {"Content-Type": "application/json", **(headers or {})}))

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if parts.path == "/_emulator/stats":
            with self.server.stats_lock:
                stats = {"total": self.server.stats["total"], "calls": dict(self.server.stats),
                        "faults": dict(self.server.faults)}
            self._send(Response(200, stats))
            return
        if not parts.path.startswith("/v2/"):
            self._error(404, f"No route for {self.command} {parts.path}")
            return
        path = parts.path[len("/v2"):]
        fault = self.server.draw_fault()
        self.server.record(self.command, path, fault)
        if self.server.knobs.latency_ms:
            time.sleep(self.server.knobs.latency_ms / 1000)
        valid, caller = self.server.caller_for(self.headers.get("Authorization"))
        if not valid:
            self._error(401, "Invalid authentication token")
            return
        if self.server.limit is not None:
            wait = self.server.limit.take()
            if wait > 0:
                self._error(429, "Too many requests", {"Retry-After": str(max(1, math.ceil(wait)))})
                return
        if fault in ("500", "502", "503"):
            self._error(int(fault), "Injected server error")
            return
        if fault == "429":
            self._error(429, "Too many requests")  # no Retry-After: the client must back off alone
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._error(400, "Request body is not valid JSON")
            return
        request = Request(self.command, path, tuple(parse_qsl(parts.query, keep_blank_values=True)), body)
        response = self.server.respond(request, caller)
        if self.server.knobs.truncate_lists and isinstance(response.body, dict) and response.body.get("page"):
            response = Response(response.status, {**response.body, "data": response.body["data"][:-1]},
                                response.headers)
        if fault == "drop":  # applied, but the answer is lost: the connection resets
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "slow":
            time.sleep(self.server.knobs.slow_seconds)
        self._send(response)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle
