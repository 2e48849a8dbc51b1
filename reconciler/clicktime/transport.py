"""The seam between the ClickTime client and how its requests travel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below the API root, e.g. "/Jobs" or "/Jobs/abc/Tasks"
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None


@dataclass(frozen=True)
class Response:
    status: int
    body: Any = None  # parsed JSON, or None for an empty body
    headers: Mapping[str, str] = field(default_factory=dict)


class Transport(Protocol):
    def send(self, request: Request) -> Response: ...

    def close(self) -> None: ...


class TransportError(Exception):
    """The request got no HTTP answer. `sent` is True when it may have reached the server
    (a timeout or reset after writing), so a non-idempotent request's outcome is unknown."""

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent
