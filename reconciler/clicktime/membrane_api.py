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
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.http import secret_from_env, transport_errors
from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.membrane_cli import (
    ErrorContext,
    MembraneError,
    MembraneLoginError,
    choose_connection,
    connection_checks,
    connection_items,
    membrane_error,
    outcome_from_error,
    path_prefix,
    query_forwarding_check,
    upstream_response,
)
from reconciler.clicktime.transport import Request, Response, TransportError

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.backends import BackendOptions
    from reconciler.doctor import Check

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
    if key and secret:
        return TokenSource(workspace=(key, secret, os.environ.get(MA.TENANT_ENV, "").strip() or None))
    raise MembraneLoginError("the membrane-api backend needs Membrane credentials", CREDENTIALS_HINT)


def api_url(options: BackendOptions) -> str:
    url = (os.environ.get("MEMBRANE_API_URL") or options.membrane.get("api_url") or os.environ.get("MEMBRANE_API_URI")
           or MA.DEFAULT_API_URL)
    return str(url).strip().rstrip("/")


class MembraneApi:
    """Membrane's REST API: its own endpoints and the proxy. One pooled HTTP client for both."""

    def __init__(self, base_url: str, tokens: TokenSource, timeout: float = 30.0, max_connections: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
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

    def send(self, method: str, path: str, query: Any = (), body: Any = None) -> httpx.Response:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.tokens.token()}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        with self._lock:
            self.calls += 1
        with transport_errors(self.base_url):
            return self._client.request(method, self.base_url + path, params=list(query), content=content,
                                        headers=headers)

    def get(self, path: str, query: Any = ()) -> Any:
        """One of Membrane's own endpoints; its errors become MembraneErrors."""
        try:
            answer = self.send("GET", path, query)
        except TransportError as error:
            raise MembraneError(f"Membrane's API at {self.base_url}: {error}",
                                "check MEMBRANE_API_URL and the network") from None
        body = _body(answer)
        if 200 <= answer.status_code < 300:
            return body
        error = membrane_error(body) or {"type": "", "message": f"HTTP {answer.status_code} from GET {path}"}
        if answer.status_code == 401 or error.get("key") == "not_authenticated":
            raise MembraneLoginError(f"Membrane rejected {self.tokens.description} (HTTP {answer.status_code}: "
                                     f"{error.get('message')})", self.login_fix)
        if answer.status_code == 404:  # Membrane's own endpoints exist: the URL is not Membrane's API
            raise MembraneError(f"{self.base_url} does not answer like Membrane's API (HTTP 404 for GET {path})",
                                f"check MEMBRANE_API_URL (default {MA.DEFAULT_API_URL})")
        raise MembraneError(f"Membrane's API answered HTTP {answer.status_code} to GET {path}: {error.get('message')}",
                            "try again later" if answer.status_code == 429 or answer.status_code >= 500 else None)

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


def _body(answer: httpx.Response) -> Any:
    if not answer.content:
        return None
    try:
        return answer.json()
    except ValueError:
        return answer.text


class MembraneApiTransport:
    def __init__(self, api: MembraneApi, connection_id: str, prefix: str = "") -> None:
        self.api = api
        self.connection_id = connection_id
        self.prefix = prefix
        self.base = MA.PROXY_PATH.format(connection=quote(connection_id, safe=""), path="")
        self.context = ErrorContext(connection_id, login_fix=api.login_fix,
                                    connections_hint="GET /connections lists them")

    def __repr__(self) -> str:
        return f"MembraneApiTransport({self.api.base_url!r}, {self.connection_id!r})"

    def send(self, request: Request) -> Response:
        answer = self.api.send(request.method.upper(), self.base + self.prefix + request.path, request.query,
                               request.body)
        body = _body(answer)
        found = membrane_error(body)
        if found is not None:
            return outcome_from_error(found, answer.status_code, dict(answer.headers), self.context)
        return upstream_response(answer.status_code, body, dict(answer.headers), self.context)

    def close(self) -> None:
        self.api.close()


def open_api(options: BackendOptions) -> MembraneApi:
    return MembraneApi(api_url(options), token_source(), timeout=options.timeout,
                       max_connections=max(4, options.concurrency * 2))


def open_membrane_api(options: BackendOptions) -> ClickTimeClient:
    """The `membrane-api` backend: the ClickTime client over Membrane's proxy endpoint."""
    from reconciler.clicktime.membrane_cli import configured_connection

    api = open_api(options)
    try:
        connection_id, _ = configured_connection(options)
        if connection_id is None:
            connection_id = str(choose_connection(api.connections(), CONNECT_HINT)["id"])
    except BaseException:
        api.close()
        raise
    client = ClickTimeClient(MembraneApiTransport(api, connection_id, path_prefix()),
                             rate_limit=options.rate_limit, concurrency=options.concurrency)
    client.calls += api.calls  # the statistics count the connection lookup too
    return client


def preflight(options: BackendOptions) -> list[Check]:
    """Credentials, the API's answer, the connection's state, and that lists reach ClickTime whole."""
    from reconciler.doctor import Check

    try:
        tokens = token_source()
    except MembraneError as error:
        return [Check("Membrane credentials", False, error.detail, error.fix)]
    checks = [Check("Membrane credentials", True, tokens.description)]
    api = MembraneApi(api_url(options), tokens, timeout=options.timeout)
    try:
        try:
            connections = api.connections()
        except MembraneError as error:
            name = "Membrane login" if isinstance(error, MembraneLoginError) else "Membrane API"
            return checks + [Check(name, False, error.detail, error.fix)]
        checks.append(Check("Membrane API", True, f"{api.base_url}: {len(connections)} connection(s) visible"))
        found, connection_id = connection_checks(connections, options, CONNECT_HINT)
        checks += found
        if connection_id is not None:
            checks.append(query_forwarding_check(MembraneApiTransport(api, connection_id, path_prefix())))
        return checks
    finally:
        api.close()
