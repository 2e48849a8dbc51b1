"""A fake Membrane API on loopback for the membrane-api backend: GET /connections[/{id}] and the proxy
/connections/{id}/proxy/{path}, forwarded to an in-process ClickTime emulator.

Shapes come from reconciler.clicktime.membrane.assumptions: Bearer auth (a fixed token, or an HS256
JWT signed with the workspace secret), ErrorData bodies for Membrane's own errors, and ClickTime's
status, headers and body passed through unchanged by the proxy. Faults answer instead of (or after)
the emulator; every request is logged with the headers that matter.

Knobs for what a real proxy may do that the documents do not rule out (attributes, also keyword
arguments of the constructor):
    empty_bodies     every proxied answer's body is `{}` (ClickTime's status kept; writes still applied)
    gzip_header      proxied answers carry `Content-Encoding: gzip` over a body already decoded
    base_ends_in_v2  the connection's base URL ends in /v2 (default): /Jobs works and /v2/Jobs is
                     ClickTime's 404; False: the other way round
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from fakes import connection, public
from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.transport import Request
from reconciler.sandbox.emulator import Emulator

DEFAULT_TOKEN = "membrane-test-token"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeMembraneApi(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emulator: Emulator, token: str | None = DEFAULT_TOKEN, workspace_key: str | None = None,
                 workspace_secret: str | None = None, connections: list[dict[str, Any]] | None = None,
                 host: str = "127.0.0.1", port: int = 0, empty_bodies: bool = False, gzip_header: bool = False,
                 base_ends_in_v2: bool = True) -> None:
        self.emulator = emulator
        self.empty_bodies = empty_bodies
        self.gzip_header = gzip_header
        self.base_ends_in_v2 = base_ends_in_v2
        self.token = token
        self.workspace_key = workspace_key
        self.workspace_secret = workspace_secret
        self.connections = connections if connections is not None else [connection()]
        self.faults: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeMembraneApi:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-membrane-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def add_fault(self, **fault: Any) -> None:
        """Match: method, path (ClickTime's path, exact). Answer: status, body, headers, after the
        emulator applied the request when forward_first. `times` (default 1; -1 forever)."""
        with self.lock:
            self.faults.append({"times": 1, **fault})

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if fault.get("method") and fault["method"].upper() != method:
                    continue
                if fault.get("path") and fault["path"] != path:
                    continue
                fault["times"] -= 1
                if fault["times"] == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def proxied(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """(method, ClickTime path, query) of every proxy call."""
        return [(e["method"], e["proxied"], e["query"]) for e in self.log if e.get("proxied")]

    def authorised(self, header: str | None) -> dict[str, Any] | None:
        """The token's claims ({} for the fixed token), or None if it is not accepted."""
        if not header or not header.startswith("Bearer "):
            return None
        token = header[len("Bearer "):].strip()
        if self.token is not None and hmac.compare_digest(token, self.token):
            return {}
        if not self.workspace_secret or token.count(".") != 2:
            return None
        head, body, signature = token.split(".")
        expected = hmac.new(self.workspace_secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(signature), expected):
                return None
            claims = json.loads(_unb64(body))
        except ValueError:
            return None
        if claims.get("exp", 0) < time.time():
            return None
        if self.workspace_key not in (claims.get("workspaceKey"), claims.get("iss")):
            return None
        return claims


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeMembraneApi

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-length", "content-type"):
                self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, error: dict[str, Any]) -> None:
        self._send(status, error)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        query = parse_qsl(parts.query, keep_blank_values=True)
        entry: dict[str, Any] = {"method": self.command, "path": parts.path, "query": query,
                                 "api_version": self.headers.get(MA.API_VERSION_HEADER),
                                 "content_type": self.headers.get("Content-Type")}
        with self.server.lock:
            self.server.log.append(entry)
        claims = self.server.authorised(self.headers.get("Authorization"))
        entry["claims"] = claims
        if claims is None:
            self._error(401, {"type": "bad_request", "key": "not_authenticated", "message": "Invalid or expired token"})
            return
        if segments[:1] != ["connections"]:
            self._error(404, {"type": "bad_request", "key": "not_found", "message": f"No route {parts.path}"})
            return
        if len(segments) == 1 and self.command == "GET":
            self._send(200, {"items": [public(c) for c in self.server.connections]})
            return
        found = next((c for c in self.server.connections if segments[1] in (c.get("id"), c.get("key"))), None)
        if found is None:
            self._error(404, MA.CONNECTION_NOT_FOUND_ERROR)
            return
        if len(segments) == 2 and self.command == "GET":
            self._send(200, public(found))
            return
        if len(segments) < 3 or segments[2] != "proxy":
            self._error(404, {"type": "bad_request", "key": "not_found", "message": f"No route {parts.path}"})
            return
        path = "/" + "/".join(segments[3:])
        entry["proxied"] = path
        if found.get("disconnected") or found.get("state") != MA.CONNECTION_STATE_READY:
            self._error(MA.DISCONNECTED_STATUS, MA.DISCONNECTED_ERROR)
            return
        fault = self.server.take_fault(self.command, path)
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault and not fault.get("forward_first") and "status" in fault:
            self._send(fault["status"], fault.get("body"), fault.get("headers"))
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, {"data": None, "errors": [{"Message": "Request body is not valid JSON"}]})
            return
        upstream = ("/v2" if self.server.base_ends_in_v2 else "") + path
        if upstream.startswith("/v2/"):
            response = self.server.emulator.handle(Request(self.command, upstream[3:], tuple(query), body),
                                                   found.get("fakeClickTimeUser"))
            status, answer, headers = response.status, response.body, dict(response.headers)
        else:  # outside ClickTime's API root
            status, headers = 404, {"Content-Type": "application/json"}
            answer = {"errors": [{"Message": f"No HTTP resource was found that matches the request URI {upstream!r}"}]}
        if fault and "status" in fault:
            self._send(fault["status"], fault.get("body"), fault.get("headers"))
            return
        if self.server.empty_bodies and status != 204:  # a 204 has no body to replace
            answer = {}
        if self.server.gzip_header:  # the header of a compressed answer, passed on over the decoded body
            headers["Content-Encoding"] = "gzip"
        self._send(status, answer, headers)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle
