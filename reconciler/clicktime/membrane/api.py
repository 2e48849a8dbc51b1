"""The `membrane-api` backend: ClickTime requests straight to Membrane's API proxy, for machines without Node.

    {METHOD} {api}/connections/{connection}/proxy{path}?{query}
    Authorization: Bearer <token>
    membrane-api-version: 2025-10-21

The proxy returns ClickTime's status, headers and body unchanged, so the answer goes to the same
ClickTime client as every other backend's (same paging, same retries on 429/5xx, same care for
creates whose outcome is unknown). Membrane's own errors ({type, key, message}) are mapped exactly
as for the CLI transport (membrane_cli.outcome_from_error).

Credentials, never printed: MEMBRANE_TOKEN (or MEMBRANE_TOKEN_FILE), else a token minted here from
MEMBRANE_WORKSPACE_KEY, MEMBRANE_WORKSPACE_SECRET and MEMBRANE_TENANT_KEY (HS256, renewed before it
expires), as Membrane's SDK does. API root: MEMBRANE_API_URL, then `membrane: {api_url: ...}` in
reconciler.yaml, then MEMBRANE_API_URI, then https://api.getmembrane.com.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from reconciler.clicktime.http import Answer, secret_from_env, send_request
from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.membrane.basepath import BasePath
from reconciler.clicktime.membrane.cli import path_prefix
from reconciler.clicktime.membrane.connections import choose_connection, connection_items
from reconciler.clicktime.membrane.errors import ErrorContext, MembraneError, MembraneLoginError
from reconciler.clicktime.membrane.protocol import membrane_error, outcome_from_error, upstream_response
from reconciler.clicktime.transport import Request, Response, TransportError
from reconciler.secrets import register_secret

CREDENTIALS_HINT = ("set MEMBRANE_TOKEN (or MEMBRANE_TOKEN_FILE) to a Membrane API token, or MEMBRANE_WORKSPACE_KEY, "
                    "MEMBRANE_WORKSPACE_SECRET and MEMBRANE_TENANT_KEY (Membrane console > workspace settings; on a "
                    "logged-in machine `membrane credentials --json` shows them)")
CONNECT_HINT = "connect ClickTime in the Membrane console (or `membrane connect --connectorKey clicktime`)"
MAX_CONNECTION_PAGES = 50


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(workspace_key: str, workspace_secret: str, tenant_key: str | None,
               lifetime: int = MA.JWT_LIFETIME, now: float | None = None) -> str:
    """An HS256 JWT signed with the workspace secret, carrying both claim sets seen (docs and SDK)."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {"workspaceKey": workspace_key, "iss": workspace_key, "exp": issued + lifetime}
    if tenant_key:
        payload.update(tenantKey=tenant_key, id=tenant_key)
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
    signature = hmac.new(workspace_secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


class TokenSource:
    """A fixed token, or one minted from the workspace key and secret and renewed before it expires."""

    def __init__(self, token: str | None = None, workspace: tuple[str, str, str | None] | None = None) -> None:
        self._token = token
        self._workspace = workspace
        self._expires = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the token or the secret
        return "TokenSource(<static>)" if self._workspace is None else f"TokenSource(workspace {self._workspace[0]!r})"

    @property
    def description(self) -> str:
        if self._workspace is None:
            return "MEMBRANE_TOKEN"
        tenant = self._workspace[2]
        return f"a token minted for workspace {self._workspace[0]}" + (f", tenant {tenant}" if tenant else "")

    def token(self) -> str:
        if self._workspace is None:
            assert self._token is not None
            return self._token
        with self._lock:
            if self._token is None or time.time() > self._expires - 300:
                self._token = mint_token(*self._workspace)
                register_secret(self._token)
                self._expires = time.time() + MA.JWT_LIFETIME
            return self._token


def token_source() -> TokenSource:
    try:
        token = secret_from_env("MEMBRANE_TOKEN", "MEMBRANE_TOKEN_FILE")
    except ValueError as error:
        raise MembraneError(str(error)) from None
    if token:
        return TokenSource(token=token)
    key, secret = (os.environ.get(name, "").strip() for name in MA.WORKSPACE_ENV)
    register_secret(secret)
    if key and secret:
        tenant = os.environ.get(MA.TENANT_ENV, "").strip()
        if not tenant:  # a token without a tenant identifies no tenant: every connection lookup would fail
            raise MembraneLoginError(f"{MA.TENANT_ENV} is not set: a token minted without a tenant key "
                                     "identifies no tenant, so it reaches no connection",
                                     f"set {MA.TENANT_ENV} to the tenant that owns the ClickTime connection")
        return TokenSource(workspace=(key, secret, tenant))
    raise MembraneLoginError("the membrane-api backend needs Membrane credentials", CREDENTIALS_HINT)


def api_url(configured: str | None) -> str:
    """Membrane's API root: MEMBRANE_API_URL (`configured`), else Membrane's own. The token goes
    there, so it must be https, or http on this machine's loopback (a local stand-in)."""
    url = (configured or MA.DEFAULT_API_URL).strip().rstrip("/")
    parts = urlsplit(url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise MembraneError(f"MEMBRANE_API_URL must be an https URL (or http on loopback), not {url!r}",
                            f"unset it to use {MA.DEFAULT_API_URL}")
    return url


class MembraneApi:
    """Membrane's REST API: its own endpoints and the proxy. One pooled HTTP client for both."""

    def __init__(self, base_url: str, tokens: TokenSource, timeout: float = 30.0, max_connections: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.tokens = tokens
        self.login_fix = f"check the credentials: {CREDENTIALS_HINT}"
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={MA.API_VERSION_HEADER: MA.API_VERSION, "Accept": "application/json",
                     "User-Agent": "clicktime-reconciler"},
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:
        return f"MembraneApi({self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def send(self, method: str, path: str, query: Any = (), body: Any = None) -> Answer:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.tokens.token()}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        with self._lock:
            self.calls += 1
        return send_request(self._client, self.base_url, method, self.base_url + path, list(query), content, headers,
                            deadline=self.timeout * 2)

    def get(self, path: str, query: Any = ()) -> Any:
        """One of Membrane's own endpoints; its errors become MembraneErrors."""
        try:
            answer = self.send("GET", path, query)
        except TransportError as error:
            raise MembraneError(f"Membrane's API at {self.base_url}: {error}",
                                "check MEMBRANE_API_URL and the network") from None
        body = _body(answer)
        if 200 <= answer.status < 300:
            return body
        said = membrane_error(body) or {"type": "", "message": f"HTTP {answer.status} from GET {path}"}
        if answer.status == 401 or said.get("key") == "not_authenticated":
            raise MembraneLoginError(f"Membrane rejected {self.tokens.description} (HTTP {answer.status}: "
                                     f"{said.get('message')})", self.login_fix)
        if answer.status == 404:  # Membrane's own endpoints exist: the URL is not Membrane's API
            raise MembraneError(f"{self.base_url} does not answer like Membrane's API (HTTP 404 for GET {path})",
                                f"check MEMBRANE_API_URL (default {MA.DEFAULT_API_URL})")
        raise MembraneError(f"Membrane's API answered HTTP {answer.status} to GET {path}: {said.get('message')}",
                            "try again later" if answer.status == 429 or answer.status >= 500 else None)

    def connections(self) -> list[dict[str, Any]]:
        """GET /connections, following the cursor."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_CONNECTION_PAGES):
            body = self.get(MA.CONNECTIONS_PATH, [("cursor", cursor)] if cursor else [])
            page = connection_items(body)
            if page is None:
                raise MembraneError(f"GET {MA.CONNECTIONS_PATH} did not answer a connection list",
                                    "check MEMBRANE_API_URL")
            items += page
            cursor = body.get("cursor") if isinstance(body, dict) else None
            if not cursor or not page:
                break
        return items


def _body(answer: Answer) -> Any:
    if not answer.content:
        return None
    try:
        return json.loads(answer.content)
    except ValueError:
        return answer.content.decode("utf-8", "replace")


class MembraneApiTransport:
    def __init__(self, api: MembraneApi, connection_id: str, prefix: str | None = "") -> None:
        self.api = api
        self.connection_id = connection_id
        self.base_path = BasePath(prefix)
        self.base = MA.PROXY_PATH.format(connection=quote(connection_id, safe=""), path="")
        self.context = ErrorContext(connection_id, login_fix=api.login_fix,
                                    connections_hint="GET /connections lists them")
        self.setup_calls = 0  # calls made before the first request (finding the connection)

    def __repr__(self) -> str:
        return f"MembraneApiTransport({self.api.base_url!r}, {self.connection_id!r})"

    def send(self, request: Request) -> Response:
        def send_at(path: str) -> Response:
            answer = self.api.send(request.method.upper(), self.base + path, request.query, request.body)
            body = _body(answer)
            found = membrane_error(body)
            if found is not None:
                return outcome_from_error(found, answer.status, answer.headers, self.context)
            return upstream_response(answer.status, body, answer.headers, self.context)

        return self.base_path.send(send_at, request.path)

    def close(self) -> None:
        self.api.close()


def open_api_transport(configured_url: str | None, connection: str | None, timeout: float,
                       max_connections: int) -> MembraneApiTransport:
    """Membrane's proxy as a transport, on `connection` or else the one ready ClickTime connection."""
    api = MembraneApi(api_url(configured_url), token_source(), timeout=timeout, max_connections=max_connections)
    try:
        if connection is None:
            connection = str(choose_connection(api.connections(), CONNECT_HINT)["id"])
    except BaseException:
        api.close()
        raise
    transport = MembraneApiTransport(api, connection, path_prefix())
    transport.setup_calls = api.calls
    return transport
