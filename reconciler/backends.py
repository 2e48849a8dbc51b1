"""Backend selection: a literal registry from name to a function that builds the client."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.http import DEFAULT_API_URL, HttpTransport, secret_from_env
from reconciler.clicktime.membrane_api import open_membrane_api
from reconciler.clicktime.membrane_cli import open_membrane_cli
from reconciler.errors import BackendError
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.transport import SandboxTransport

DEFAULT_SANDBOX = Path(".reconciler") / "sandbox.sqlite3"


@dataclass(frozen=True)
class BackendOptions:
    sandbox_path: Path = DEFAULT_SANDBOX
    rate_limit: float | None = None
    concurrency: int = 4
    timeout: float = 30.0
    connection: str | None = None  # Membrane connection ID (flag, then settings; env is read by the backend)
    membrane: dict[str, str] = field(default_factory=dict)  # the settings file's membrane: section


def sandbox_path(option: str | None) -> Path:
    return Path(option or os.environ.get("RECONCILER_SANDBOX") or DEFAULT_SANDBOX)


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


def _sandbox(options: BackendOptions) -> ClickTimeClient:
    return ClickTimeClient(SandboxTransport(Emulator.open(str(options.sandbox_path))),
                           rate_limit=options.rate_limit, concurrency=options.concurrency)


def _clicktime(options: BackendOptions) -> ClickTimeClient:
    base_url = os.environ.get("CLICKTIME_API_URL") or DEFAULT_API_URL
    transport = HttpTransport(base_url, read_token(), timeout=options.timeout,
                              max_connections=max(4, options.concurrency * 2))
    return ClickTimeClient(transport, rate_limit=options.rate_limit, concurrency=options.concurrency)


BACKENDS: dict[str, Callable[[BackendOptions], ClickTimeClient]] = {
    "sandbox": _sandbox,
    "clicktime": _clicktime,
    "membrane": open_membrane_cli,
    "membrane-api": open_membrane_api,
}


def choose_backend(flag: str | None, settings_backend: str | None) -> str:
    """--backend, then RECONCILER_BACKEND, then the settings file, then the sandbox."""
    name = flag or os.environ.get("RECONCILER_BACKEND") or settings_backend or "sandbox"
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    return name


def open_client(name: str, options: BackendOptions) -> ClickTimeClient:
    return BACKENDS[name](options)
