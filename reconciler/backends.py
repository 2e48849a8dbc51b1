"""Backends: a literal registry from name to how its transport opens and how `doctor` checks it.

Every backend ends in the same ClickTime client; only the transport under it differs. Options
arrive resolved (see engine.resolve_options); transports take plain arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.clicktime.checks import Check
from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.http import DEFAULT_API_URL, HttpTransport, secret_from_env
from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.transport import Transport
from reconciler.errors import BackendError

DEFAULT_SANDBOX = Path(".reconciler") / "sandbox.sqlite3"
DEFAULT_TIMEOUT = 30.0
# Membrane lets a request run for up to 60 s (its connectors retry upstream 429s within that):
# waiting less turns a slow answer into an unknown outcome.
MEMBRANE_TIMEOUT = MA.REQUEST_TIME_LIMIT + 15.0


@dataclass(frozen=True)
class Resolved:
    """An option's value and where it came from (a flag, a variable, the settings file, a default)."""

    value: object
    source: str


@dataclass(frozen=True)
class BackendOptions:
    backend: str
    sandbox_path: Path = DEFAULT_SANDBOX
    rate_limit: float | None = None
    concurrency: int = 4
    timeout: float = DEFAULT_TIMEOUT
    connection: str | None = None  # Membrane connection ID
    connection_source: str = ""
    membrane_bin: str | None = None  # MEMBRANE_BIN: only ever from the environment
    membrane_api_url: str | None = None  # MEMBRANE_API_URL: only ever from the environment
    clicktime_api_url: str = DEFAULT_API_URL


def default_timeout(backend: str) -> float:
    return MEMBRANE_TIMEOUT if backend.startswith("membrane") else DEFAULT_TIMEOUT


def read_token() -> str:
    """CLICKTIME_TOKEN, or the first line of the file CLICKTIME_TOKEN_FILE names. Never printed."""
    try:
        token = secret_from_env("CLICKTIME_TOKEN", "CLICKTIME_TOKEN_FILE")
    except ValueError as error:
        raise BackendError(str(error)) from None
    if not token:
        raise BackendError("the clicktime backend needs an API token: set CLICKTIME_TOKEN (or CLICKTIME_TOKEN_FILE "
                           "to a file holding it); find it in ClickTime under My Preferences > Authentication Token")
    return token


def _sandbox(options: BackendOptions) -> Transport:
    from reconciler.sandbox.emulator import Emulator
    from reconciler.sandbox.transport import SandboxTransport

    return SandboxTransport(Emulator.open(str(options.sandbox_path)))


def _clicktime(options: BackendOptions) -> Transport:
    return HttpTransport(options.clicktime_api_url, read_token(), timeout=options.timeout,
                         max_connections=max(4, options.concurrency))


def _membrane_cli(options: BackendOptions) -> Transport:
    from reconciler.clicktime.membrane.cli import open_cli_transport

    return open_cli_transport(options.membrane_bin, options.connection, options.timeout)


def _membrane_api(options: BackendOptions) -> Transport:
    from reconciler.clicktime.membrane.api import open_api_transport

    return open_api_transport(options.membrane_api_url, options.connection, options.timeout,
                              max_connections=max(4, options.concurrency))


def _membrane_cli_preflight(options: BackendOptions) -> list[Check]:
    from reconciler.clicktime.membrane.preflight import cli_preflight

    return cli_preflight(options.membrane_bin, options.connection, options.connection_source, options.timeout)


def _membrane_api_preflight(options: BackendOptions) -> list[Check]:
    from reconciler.clicktime.membrane.preflight import api_preflight

    return api_preflight(options.membrane_api_url, options.connection, options.connection_source, options.timeout)


@dataclass(frozen=True)
class Backend:
    open: Callable[[BackendOptions], Transport]
    # checks to run before a client can be opened (a binary on PATH, a login, a connection)
    preflight: Callable[[BackendOptions], list[Check]] | None = None


# Transports load only when chosen: a plan on the sandbox never imports httpx's Membrane code.
BACKENDS: dict[str, Backend] = {
    "sandbox": Backend(_sandbox),
    "clicktime": Backend(_clicktime),
    "membrane": Backend(_membrane_cli, _membrane_cli_preflight),
    "membrane-api": Backend(_membrane_api, _membrane_api_preflight),
}


def check_backend_name(name: str) -> str:
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    return name


def open_client(options: BackendOptions, wrap: Callable[[Transport], Transport] | None = None) -> ClickTimeClient:
    """The one ClickTime client over the chosen backend's transport (`wrap`ped, to record it)."""
    transport = BACKENDS[check_backend_name(options.backend)].open(options)
    if wrap is not None:
        inner, transport = transport, wrap(transport)
        transport.setup_calls = getattr(inner, "setup_calls", 0)  # type: ignore[attr-defined]
    client = ClickTimeClient(transport, rate_limit=options.rate_limit, concurrency=options.concurrency,
                             backend=options.backend)
    client.calls += getattr(transport, "setup_calls", 0)  # a connection lookup counts too
    return client
