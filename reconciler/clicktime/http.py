"""HTTPS transport to ClickTime's REST API (or anything speaking it, like the emulator server).

httpx gives us connection pooling, HTTP/1.1 keep-alive across worker threads and precise timeout
classes (connect vs read), which decide whether a failed request may have been applied.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from reconciler.clicktime.transport import Request, Response, TransportError
from reconciler.secrets import register_secret

DEFAULT_API_URL = "https://api.clicktime.com/v2"


class HttpTransport:
    def __init__(self, base_url: str, token: str, timeout: float = 30.0, max_connections: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
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
        with transport_errors(self.base_url):
            answer = self._client.request(request.method, url, params=list(request.query), content=content,
                                          headers=headers)
        return Response(answer.status_code, _json_body(answer), dict(answer.headers))

    def close(self) -> None:
        self._client.close()


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
    register_secret(value)
    return value or None


def _json_body(answer: httpx.Response) -> Any:
    if not answer.content:
        return None
    try:
        return answer.json()
    except ValueError:
        text = answer.text.strip().splitlines()[0][:200] if answer.text.strip() else ""
        return {"errors": [{"Message": f"non-JSON answer (HTTP {answer.status_code}): {text}"}]}
