"""ClickTime API v2 client: envelope, paging, errors, retries, rate limit. Transport-agnostic.

Retries: a 429 is always retried (honouring Retry-After); 5xx, timeouts and dropped connections
are retried for idempotent methods. A POST whose outcome is unknown is never blindly repeated:
the caller looks the object up by its natural key first (see `create` and `assign`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt

from reconciler.clicktime import assumptions
from reconciler.clicktime.ratelimit import RateLimiter
from reconciler.clicktime.transport import Request, Response, Transport, TransportError
from reconciler.errors import ApiError, BackendError, IncompleteFetchError

IDEMPOTENT = frozenset({"GET", "PATCH", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# List filters that find one record by its natural key (exact match assumed: see assumptions).
NATURAL_KEY_FILTERS = {"Clients": ("ShortName",), "Tasks": ("TaskCode",), "Users": ("Email",),
                       "Jobs": ("ClientID", "JobNumber"), "Divisions": ("Name",), "EmploymentTypes": ("Name",)}


def error_messages(body: Any) -> list[str]:
    """ClickTime's `errors[].Message`, tolerating the `Detail`/`Title` keys seen in the wild."""
    if not isinstance(body, dict):
        return []
    messages = []
    for item in body.get("errors") or []:
        if isinstance(item, dict):
            text = item.get("Message") or item.get("Detail") or item.get("Title") or ""
            if item.get("Field"):
                text = f"{item['Field']}: {text}"
            messages.append(text or str(item))
        else:
            messages.append(str(item))
    return messages


class OutcomeUnknown(BackendError):
    """A non-idempotent request may or may not have been applied."""


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass
class RetryPolicy:
    attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        # exponential backoff with full jitter
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def _retry_after(response: Response) -> float | None:
    value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ClickTimeClient:
    def __init__(self, transport: Transport, page_size: int = assumptions.REQUESTED_PAGE_SIZE,
                 rate_limit: float | None = None, concurrency: int = 4, retry: RetryPolicy | None = None) -> None:
        self.transport = transport
        self.page_size = page_size
        self.limiter = RateLimiter(rate_limit)
        self.concurrency = max(1, concurrency)
        self.retry = retry or RetryPolicy()
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0

    def close(self) -> None:
        self.transport.close()

    def _count(self, retried: bool = False) -> None:
        with self._lock:
            self.calls += 1
            self.retries += retried

    # -- one request ---------------------------------------------------------------------
    def request(self, method: str, path: str, query: Iterable[tuple[str, str]] = (), body: Any = None) -> Any:
        """Send one request with retries; return the envelope's body, or raise ApiError.

        A 2xx answer with a non-empty `errors` array is a failure too."""
        request = Request(method, path, tuple(query), body)
        ambiguous = False  # an earlier attempt may have been applied
        tries = 0

        def attempt() -> Any:
            nonlocal ambiguous, tries
            tries += 1
            self.limiter.acquire()
            self._count(retried=tries > 1)
            try:
                response = self.transport.send(request)
            except TransportError as error:
                if error.sent and method not in IDEMPOTENT:
                    raise OutcomeUnknown(f"{method} {path}: {error}") from None
                ambiguous = ambiguous or error.sent
                raise _Retry(str(error))
            if response.status == 429:
                retry_after = _retry_after(response)
                if retry_after:
                    self.limiter.pause(retry_after)
                raise _Retry("rate limited (HTTP 429)", retry_after)
            if response.status in RETRY_STATUSES:
                if method not in IDEMPOTENT:
                    raise OutcomeUnknown(f"{method} {path}: HTTP {response.status}")
                ambiguous = True
                raise _Retry(f"HTTP {response.status}")
            if method == "DELETE" and ambiguous and response.status == 404:
                return None  # an earlier attempt did delete it
            messages = error_messages(response.body)
            if not 200 <= response.status < 300 or messages:
                raise ApiError(response.status, method, path, messages)
            return response.body

        try:  # the common case, without building a retry loop per request
            return attempt()
        except _Retry as error:
            if self.retry.attempts <= 1:
                raise ApiError(0, method, path, [f"gave up after 1 attempt: {error}"]) from None
            time.sleep(self.retry.delay(1, error.retry_after))
        attempts = Retrying(
            stop=stop_after_attempt(self.retry.attempts - 1),
            wait=lambda state: self.retry.delay(state.attempt_number + 1, getattr(
                state.outcome.exception(), "retry_after", None) if state.outcome else None),
            retry=retry_if_exception(lambda e: isinstance(e, _Retry)),
            reraise=True,
        )
        try:
            return attempts(attempt)
        except _Retry as error:
            raise ApiError(0, method, path, [f"gave up after {self.retry.attempts} attempts: {error}"]) from None

    # -- lists ---------------------------------------------------------------------------
    def list(self, collection: str, filters: Iterable[tuple[str, str]] = (),
             include_inactive: bool = True) -> list[dict[str, Any]]:
        """Every record of a collection, active and inactive, de-duplicated by ID.

        The first page tells the total and the page size the server grants; the remaining pages
        are read concurrently. A result shorter than page.count is an error, never a smaller
        account."""
        query = [*filters]
        if include_inactive and not any(name == "IsActive" for name, _ in query):
            query += [("IsActive", "true"), ("IsActive", "false")]

        def page(offset: int, limit: int) -> dict[str, Any]:
            return self.request("GET", f"/{collection}", [*query, ("limit", str(limit)), ("offset", str(offset))])

        first = page(0, self.page_size)
        pages = [first]
        info = first.get("page") or {}
        count = info.get("count")
        limit = int(info.get("limit") or len(first.get("data") or []) or self.page_size)
        if count is not None and first.get("data"):
            offsets = list(range(limit, int(count), limit))
            if len(offsets) + 1 > assumptions.MAX_PAGES:
                raise ApiError(0, "GET", f"/{collection}", [f"more than {assumptions.MAX_PAGES} pages"])
            with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(offsets)))) as pool:
                pages += list(pool.map(lambda o: page(o, limit), offsets))
        elif count is None:
            pages += self._pages_without_count(page, first, limit)
        records: dict[str, dict[str, Any]] = {}
        for body in pages:
            for record in body.get("data") or []:
                records.setdefault(record["ID"], record)
        if count is not None and len(records) < count:
            raise IncompleteFetchError(0, "GET", f"/{collection}", [
                f"incomplete list: page.count says {count} records, {len(records)} arrived"])
        return list(records.values())

    @staticmethod
    def _pages_without_count(page: Any, first: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """Sequential paging for a server that sends no page.count: follow links.next / data."""
        pages, body, offset = [], first, 0
        for _ in range(assumptions.MAX_PAGES):
            links = (body.get("page") or {}).get("links") or {}
            if not body.get("data") or ("next" in links and not links["next"]):
                return pages
            offset += limit
            body = page(offset, limit)
            pages.append(body)
        raise ApiError(0, "GET", "list", [f"more than {assumptions.MAX_PAGES} pages"])

    # -- objects -------------------------------------------------------------------------
    def company(self) -> dict[str, Any]:
        return self.request("GET", "/Company")["data"]

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/Me")["data"]

    def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST, and when the outcome is unknown, look the object up by its natural key before
        trying again, so that a create is never duplicated."""
        lookup = [(name, str(body.get(name))) for name in NATURAL_KEY_FILTERS[collection]]
        uncertain = False
        for _ in range(self.retry.attempts):
            try:
                return self.request("POST", f"/{collection}", body=body)["data"]
            except OutcomeUnknown:
                uncertain = True
            except ApiError as error:
                # A late-arriving earlier attempt can make this one collide with itself.
                if not (uncertain and error.status == 400):
                    raise
            found = self.list(collection, lookup)
            if found:
                return found[0]
        raise OutcomeUnknown(f"POST /{collection}: outcome still unknown after {self.retry.attempts} attempts")

    def update(self, collection: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"/{collection}/{record_id}", body=body)["data"]

    def delete(self, collection: str, record_id: str) -> None:
        self.request("DELETE", f"/{collection}/{record_id}")

    def assigned_ids(self, job_id: str, sub: str) -> list[str]:
        data = self.request("GET", f"/Jobs/{job_id}/{sub}")["data"] or []
        # Some configurations return objects instead of bare ID strings: accept both.
        return [item["ID"] if isinstance(item, dict) else item for item in data]

    def assign(self, job_id: str, sub: str, target_id: str) -> None:
        uncertain = False
        for _ in range(self.retry.attempts):
            try:
                self.request("POST", f"/Jobs/{job_id}/{sub}", body={assumptions.ASSIGNMENT_BODY_FIELD[sub]: target_id})
                return
            except OutcomeUnknown:
                uncertain = True
            except ApiError as error:
                if not (uncertain and error.status == 400):
                    raise
            if target_id in self.assigned_ids(job_id, sub):
                return
        raise OutcomeUnknown(f"POST /Jobs/{job_id}/{sub}: outcome still unknown after {self.retry.attempts} attempts")

    def unassign(self, job_id: str, sub: str, target_id: str) -> None:
        self.request("DELETE", f"/Jobs/{job_id}/{sub}/{target_id}")
