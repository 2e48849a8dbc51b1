"""Backend selection: a literal registry from name to a function that builds the client."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.transport import SandboxTransport
from reconciler.errors import BackendError
from reconciler.sandbox.emulator import Emulator

DEFAULT_SANDBOX = Path(".reconciler") / "sandbox.sqlite3"


@dataclass(frozen=True)
class BackendOptions:
    sandbox_path: Path


def sandbox_path(option: str | None) -> Path:
    return Path(option or os.environ.get("RECONCILER_SANDBOX") or DEFAULT_SANDBOX)


def _sandbox(options: BackendOptions) -> ClickTimeClient:
    return ClickTimeClient(SandboxTransport(Emulator.open(str(options.sandbox_path))))


BACKENDS: dict[str, Callable[[BackendOptions], ClickTimeClient]] = {
    "sandbox": _sandbox,
}


def choose_backend(flag: str | None, settings_backend: str | None) -> str:
    """--backend, then RECONCILER_BACKEND, then the settings file, then the sandbox."""
    name = flag or os.environ.get("RECONCILER_BACKEND") or settings_backend or "sandbox"
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    return name


def open_client(name: str, options: BackendOptions) -> ClickTimeClient:
    return BACKENDS[name](options)
