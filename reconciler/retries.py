"""Retries made visible: the ClickTime client retries on its own; to say at -v what failed and
how long it waits, the command line wraps the client's transport (remembering, per thread, how
each request ended) and its retry policy (which knows the wait), without the client knowing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, fields
from typing import Any

from reconciler.clicktime.client import ClickTimeClient, RetryPolicy
from reconciler.clicktime.transport import Request, Response, Transport, TransportError
from reconciler.secrets import scrub

LOG = logging.getLogger("reconciler")


class ObservedTransport:
    """A transport that remembers, per thread, how the last request ended (for retry lines)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self._last = threading.local()

    def send(self, request: Request) -> Response:
        try:
            response = self.inner.send(request)
        except TransportError as error:
            self._last.outcome = f"{request.method} {request.path}: {scrub(str(error))}"
            raise
        self._last.outcome = f"{request.method} {request.path}: HTTP {response.status}"
        return response

    def last_outcome(self) -> str:
        return str(getattr(self._last, "outcome", "a request failed"))

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # setup_calls and other transport details
        return getattr(self.inner, name)


@dataclass
class VisibleRetryPolicy(RetryPolicy):
    """The client's policy, saying at -v what failed and how long it waits before the next try."""

    observed: ObservedTransport | None = None

    def delay(self, attempt: int, retry_after: float | None) -> float:
        wait = super().delay(attempt, retry_after)
        what = self.observed.last_outcome() if self.observed is not None else "a request failed"
        LOG.info("%s; waiting %.1f s before attempt %d of %d", what, wait, attempt + 1, self.attempts)
        return wait


def observe(client: ClickTimeClient) -> ClickTimeClient:
    """Make the client's retries visible (see the module's docstring)."""
    if isinstance(client.retry, VisibleRetryPolicy):
        return client
    observed = ObservedTransport(client.transport)
    client.transport = observed
    policy = {f.name: getattr(client.retry, f.name) for f in fields(client.retry)}
    client.retry = VisibleRetryPolicy(**policy, observed=observed)
    return client
