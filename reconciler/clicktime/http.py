"""HTTPS transport to ClickTime's REST API (or anything speaking it, like the emulator server).

httpx gives us connection pooling, HTTP/1.1 keep-alive across worker threads and precise timeout
classes (connect vs read), which decide whether a failed request may have been applied.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reconciler.clicktime.transport import Request, Response, TransportError
from reconciler.secrets import register_secret, scrub

DEFAULT_API_URL = "https://api.clicktime.com/v2"


class HttpTransport:
    def __init__(self, base_url: str, token: str, timeout: float = 30.0, max_connections: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Authorization": f"Token {token}", "Accept": "application/json",
                     "User-Agent": "clicktime-reconciler"},
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def __repr__(self) -> str:  # never show the token
        return f"HttpTransport({self.base_url!r})"

    def send(self, request: Request) -> Response:
        url = self.base_url + request.path
        content = None if request.body is None else json.dumps(request.body).encode()
        headers = {"Content-Type": "application/json"} if content is not None else {}
        answer = send_request(self._client, self.base_url, request.method, url, list(request.query), content, headers,
                              deadline=self.timeout * 2)
        return Response(answer.status, _json_body(answer), answer.headers)

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    content: bytes


def send_request(client: httpx.Client, base_url: str, method: str, url: str, query: list[tuple[str, str]],
                 content: bytes | None, headers: dict[str, str], deadline: float | None = None) -> Answer:
    """One exchange, its body read raw and decoded here: a proxy may pass on a Content-Encoding
    header over a body it already decoded, which httpx would refuse to read. `deadline`: seconds
    for the whole answer (httpx's timeouts are per read: a server dripping a byte at a time
    would never trip them)."""
    started = time.monotonic()
    with transport_errors(base_url):
        params: list[tuple[str, str | int | float | bool | None]] = list(query)
        request = client.build_request(method, url, params=params, content=content, headers=headers)
        response = client.send(request, stream=True)
        try:
            chunks = []
            for chunk in response.iter_raw():
                chunks.append(chunk)
                if deadline is not None and time.monotonic() - started > deadline:
                    raise TransportError(f"the answer from {base_url} took longer than {deadline:g} s", sent=True)
            raw = b"".join(chunks)
        finally:
            response.close()
    encoding = response.headers.get("content-encoding", "").strip().lower()
    return Answer(response.status_code, dict(response.headers), decode_body(raw, encoding))


def decode_body(raw: bytes, encoding: str) -> bytes:
    """The body as sent, decoded when it is in fact encoded; an undecodable body is kept as it is
    (the caller then refuses it as not ClickTime's JSON, naming the backend)."""
    if encoding in ("gzip", "x-gzip") and raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError):
            return raw
    if encoding == "deflate":
        try:
            return zlib.decompress(raw)
        except zlib.error:
            try:
                return zlib.decompress(raw, -zlib.MAX_WBITS)
            except zlib.error:
                return raw
    return raw


@contextmanager
def transport_errors(base_url: str) -> Iterator[None]:
    """httpx's failures as TransportError, saying whether the request may have been sent: a
    failure to connect is safe to repeat, a timeout or a dropped connection after it is not."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise TransportError(f"cannot connect to {base_url}: {type(error).__name__}", sent=False) from None
    except httpx.TimeoutException as error:
        raise TransportError(f"no answer from {base_url} in time ({type(error).__name__})", sent=True) from None
    except httpx.TransportError as error:
        raise TransportError(f"connection to {base_url} failed: {type(error).__name__}", sent=True) from None


def secret_from_env(variable: str, file_variable: str) -> str | None:
    """A credential from `variable`, or the first line of the file `file_variable` names.

    Raises ValueError (naming the variable, never the value) when that file cannot be read."""
    value = os.environ.get(variable, "").strip()
    path = os.environ.get(file_variable)
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError):
            raise ValueError(f"cannot read a token from {file_variable} ({path})") from None
    if value and not all(33 <= ord(c) < 127 for c in value):
        raise ValueError(f"{variable} holds a character no token has (a space, a line break or a non-ASCII "
                         "letter): copy it again")
    register_secret(value)
    return value or None


def _json_body(answer: Answer) -> Any:
    if not answer.content:
        return None
    try:
        return json.loads(answer.content)
    except ValueError:
        text = answer.content.decode("utf-8", "replace").strip()
        shown = scrub(text.splitlines()[0][:200]) if text else ""
        return {"errors": [{"Message": f"non-JSON answer (HTTP {answer.status}): {shown}"}]}
