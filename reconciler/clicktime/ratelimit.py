"""A thread-safe token bucket shared by every request of one client, plus a global pause
that a 429 with Retry-After sets for all workers at once."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rate: float | None, burst: float = 1.0) -> None:
        self.rate = rate  # requests per second; None: unlimited
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._updated = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                wait = self._paused_until - now
                if wait <= 0 and self.rate is None:
                    return
                if wait <= 0 and self.rate is not None:
                    self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                    self._updated = now
                    if self._tokens >= 1:
                        self._tokens -= 1
                        return
                    wait = (1 - self._tokens) / self.rate
            time.sleep(wait)
