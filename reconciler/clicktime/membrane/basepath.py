"""Whether the ClickTime connection's base URL already ends in /v2 is not documented (Membrane
advises connector authors to leave the version out). It is found at first contact, not assumed:
the first request goes without a prefix; if ClickTime's routes are not there (404), the same
request goes to /v2 and, if that answers, every later request uses /v2. A 404 means the route was
not found, so repeating a write there cannot apply it twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from reconciler.clicktime.transport import Response

CANDIDATES = ("", "/v2")


class BasePath:
    def __init__(self, pinned: str | None) -> None:
        """`pinned`: MEMBRANE_CLICKTIME_PATH_PREFIX when set; None to find it."""
        self.prefix = pinned if pinned is not None else CANDIDATES[0]
        self.settled = pinned is not None
        self._lock = threading.Lock()

    def send(self, send_at: Callable[[str], Response], path: str) -> Response:
        """`send_at(full_path)` sends the request; the prefix is settled by the first answer that is not a 404."""
        with self._lock:
            prefix, settled = self.prefix, self.settled
        response = send_at(prefix + path)
        if settled:
            return response
        if response.status != 404:
            self._settle(prefix)
            return response
        for other in CANDIDATES:
            if other == prefix:
                continue
            retried = send_at(other + path)
            if retried.status != 404:
                self._settle(other)
                return retried
        return response

    def _settle(self, prefix: str) -> None:
        with self._lock:
            if not self.settled:
                self.prefix, self.settled = prefix, True
