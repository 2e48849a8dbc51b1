"""ClickTime API v2 client: envelope, paging, errors, retries, rate limit. Transport-agnostic.

Retries: a 429 is always retried (honouring Retry-After); 5xx, timeouts and dropped connections
are retried for idempotent methods. A POST whose outcome is unknown is never blindly repeated:
the caller looks the object up by its natural key first (see `create` and `assign`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt

from reconciler.clicktime import assumptions
from reconciler.clicktime.keys import NATURAL_KEYS
from reconciler.clicktime.ratelimit import RateLimiter
from reconciler.clicktime.transport import Request, Response, Transport, TransportError
from reconciler.errors import (
    ApiError,
    BackendError,
    IncompleteFetchError,
    MalformedAnswer,
    RequestFailed,
    ServiceDown,
)
from reconciler.secrets import scrub

LOG = logging.getLogger("reconciler.http")
IDEMPOTENT = frozenset({"GET", "PATCH", "PUT", "DELETE"})
# Requests in a row that get no answer, even after their retries, before the service is taken as gone.
BREAKER_LIMIT = 3
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Statuses that say "refused as invalid or duplicate": which one ClickTime uses is undocumented.
REFUSED_STATUSES = frozenset({400, 409, 422})


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
    """A non-idempotent request may or may not have been applied. `in_flight`: no answer came
    back (a timeout, a reset), so the server may still apply it later; a 5xx answer means the
    server is done with it."""

    def __init__(self, message: str, in_flight: bool = True) -> None:
        super().__init__(message)
        self.in_flight = in_flight


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass
class RetryPolicy:
    attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 30.0
    # After a POST got no answer, its object is looked for after each pause before the change is
    # reported as unknown (a slow server may apply it late).
    settle_pauses: tuple[float, ...] = (0.0, 1.0, 3.0)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        # exponential backoff with full jitter
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


DEFAULT_RETRY = RetryPolicy()


def _retry_after(response: Response) -> float | None:
    value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


DEFAULT_CONCURRENCY = 4


class ClickTimeClient:
    """`concurrency` is the most requests in flight at once, whoever sends them: every request
    passes one semaphore, so nested pools (kinds, pages, assignment lists) never exceed it."""

    def __init__(self, transport: Transport, page_size: int = assumptions.REQUESTED_PAGE_SIZE,
                 rate_limit: float | None = None, concurrency: int = DEFAULT_CONCURRENCY,
                 retry: RetryPolicy | None = None, backend: str = "ClickTime") -> None:
        self.transport = transport
        self.backend = backend
        self.page_size = page_size
        self.limiter = RateLimiter(rate_limit)
        self.concurrency = max(1, concurrency)
        self._in_flight = threading.BoundedSemaphore(self.concurrency)
        self.retry = retry or DEFAULT_RETRY
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0
        self._failures_in_a_row = 0  # requests that got no answer, even after retries
        self.down: str | None = None  # set once the service looks gone: nothing more is sent
        # Whether a whole-collection read found inactive Tasks/Users (absent: not read yet), and
        # whether an assignment GET without IsActive has been seen to include inactive targets.
        self._has_inactive: dict[str, bool] = {}
        self._assignment_reads_show_inactive: dict[str, bool] = {}

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
        if self.down is not None:
            raise ServiceDown(method, path, self.down)
        request = Request(method, path, tuple(query), body)
        ambiguous = False  # an earlier attempt may have been applied
        tries = 0

        def attempt() -> Any:
            nonlocal ambiguous, tries
            tries += 1
            self.limiter.acquire()
            self._count(retried=tries > 1)
            try:
                with self._in_flight:
                    sent = time.monotonic()
                    response = self.transport.send(request)
                LOG.debug("%s %s -> HTTP %s in %.0f ms", method, path, response.status, (time.monotonic() - sent) * 1e3)
            except TransportError as error:
                if error.sent and method not in IDEMPOTENT:
                    raise OutcomeUnknown(f"{method} {path}: {scrub(str(error))}") from None
                ambiguous = ambiguous or error.sent
                raise _Retry(scrub(str(error))) from None
            self._answered()
            if response.status == 429:
                retry_after = _retry_after(response)
                if retry_after is not None and retry_after > self.retry.max_delay:
                    LOG.warning("%s %s: the server asked to wait %g s; waiting %g s at most", method, path,
                                retry_after, self.retry.max_delay)
                    retry_after = self.retry.max_delay
                if retry_after:
                    self.limiter.pause(retry_after)
                raise _Retry("rate limited (HTTP 429)", retry_after)
            if response.status in RETRY_STATUSES:
                if method not in IDEMPOTENT:
                    raise OutcomeUnknown(f"{method} {path}: HTTP {response.status}", in_flight=False)
                ambiguous = True
                raise _Retry(f"HTTP {response.status}")
            if method == "DELETE" and ambiguous and response.status == 404:
                return None  # an earlier attempt did delete it
            messages = [scrub(m) for m in error_messages(response.body)]
            if not 200 <= response.status < 300 or messages:
                raise ApiError(response.status, method, path, messages)
            return response.body

        started = time.monotonic()
        try:  # the common case, without building a retry loop per request
            return attempt()
        except _Retry as error:
            if self.retry.attempts <= 1:
                raise self._gave_up(method, path, f"gave up after 1 attempt: {error}") from None
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
            raise self._gave_up(method, path, f"gave up after {self.retry.attempts} attempts over "
                                              f"{time.monotonic() - started:.0f} s: {error}") from None

    def _answered(self) -> None:
        with self._lock:
            self._failures_in_a_row = 0

    def _gave_up(self, method: str, path: str, reason: str) -> RequestFailed:
        """A request that got no usable answer. After BREAKER_LIMIT of them in a row the service
        is taken as gone: every later request fails at once instead of retrying for minutes."""
        with self._lock:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= BREAKER_LIMIT and self.down is None:
                self.down = f"{BREAKER_LIMIT} requests in a row got no answer (the last: {method} {path}: {reason})"
        return RequestFailed(method, path, reason)

    # -- lists ---------------------------------------------------------------------------
    def list_all(self, collection: str, filters: Iterable[tuple[str, str]] = (),
                 include_inactive: bool = True) -> list[dict[str, Any]]:
        """Every record of a collection, de-duplicated by ID; active and inactive ones unless
        `include_inactive` is False or the filters name IsActive.

        Active and inactive records are read with separate requests: a repeated query key
        (IsActive=true&IsActive=false) does not survive every transport."""
        query = [*filters]
        if any(name == "IsActive" for name, _ in query):
            return self.list_pages(collection, query)
        if not include_inactive:
            return self.list_pages(collection, [*query, ("IsActive", "true")])
        records = {r["ID"]: r for r in self.list_pages(collection, [*query, ("IsActive", "true")])}
        inactive = self.list_pages(collection, [*query, ("IsActive", "false")])
        for record in inactive:
            records.setdefault(record["ID"], record)
        if not query:
            with self._lock:
                self._has_inactive[collection] = bool(inactive)
        return list(records.values())

    def list_pages(self, collection: str, query: list[tuple[str, str]], keyed: bool = True) -> list[dict[str, Any]]:
        """One filtered list, every page. The first page tells the total and the page size the
        server grants; the rest are read concurrently. A result shorter than page.count is an
        error, never a smaller account; so is an answer outside ClickTime's envelope. `keyed`:
        records carry an ID (report rows do not)."""
        path = f"/{collection}"

        def page(offset: int, limit: int) -> dict[str, Any]:
            body = self.request("GET", path, [*query, ("limit", str(limit)), ("offset", str(offset))])
            return self._check_page(path, body, keyed)

        first = page(0, self.page_size)
        pages = [first]
        info = first.get("page") or {}
        count = self._page_count(path, first, info.get("count"))
        limit = self._page_limit(path, info.get("limit"), len(first["data"]))
        if count is not None and first["data"]:
            offsets = list(range(limit, count, limit))
            if len(offsets) + 1 > assumptions.MAX_PAGES:
                raise MalformedAnswer(self.backend, "GET", path, f"page.count {count} needs more than "
                                      f"{assumptions.MAX_PAGES} pages of {limit}", first)
            with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(offsets)))) as pool:
                pages += list(pool.map(lambda o: page(o, limit), offsets))
        elif count is None:
            pages += self._pages_without_count(path, page, first, limit)
        if not keyed:
            return [row for body in pages for row in body["data"]]
        records: dict[str, dict[str, Any]] = {}
        for body in pages:
            for record in body["data"]:
                records.setdefault(record["ID"], record)
        if count is not None and len(records) != count:
            raise IncompleteFetchError(self.backend, "GET", path, f"page.count says {count} records, "
                                       f"{len(records)} arrived")
        return list(records.values())

    def _check_page(self, path: str, body: Any, keyed: bool = True) -> dict[str, Any]:
        """ClickTime's list envelope: {"data": [records with an ID], "page": {...}}; anything else is an error."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise MalformedAnswer(self.backend, "GET", path, "a list answer without a `data` array", body)
        if not all(isinstance(r, dict) and (not keyed or (isinstance(r.get("ID"), str) and r["ID"]))
                   for r in body["data"]):
            raise MalformedAnswer(self.backend, "GET", path, "a record without an ID", body)
        if body.get("page") is not None and not isinstance(body["page"], dict):
            raise MalformedAnswer(self.backend, "GET", path, "`page` is not an object", body)
        return body

    def _page_count(self, path: str, body: dict[str, Any], value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MalformedAnswer(self.backend, "GET", path, f"page.count is {value!r}, not a count", body)
        if value > assumptions.MAX_PAGES * max(self.page_size, 1):
            raise MalformedAnswer(self.backend, "GET", path, f"page.count {value} is beyond any real account", body)
        return value

    def _page_limit(self, path: str, value: Any, first_page: int) -> int:
        if value is None:
            return first_page or self.page_size
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise MalformedAnswer(self.backend, "GET", path, f"page.limit is {value!r}, not a page size", None)
        return value

    def _pages_without_count(self, path: str, page: Callable[[int, int], dict[str, Any]], first: dict[str, Any],
                             limit: int) -> list[dict[str, Any]]:
        """Sequential paging for a server that sends no page.count: follow links.next / data."""
        pages: list[dict[str, Any]] = []
        body, offset = first, 0
        for _ in range(assumptions.MAX_PAGES):
            links = (body.get("page") or {}).get("links") or {}
            if not body["data"] or len(body["data"]) < limit or ("next" in links and not links["next"]):
                return pages
            offset += limit
            body = page(offset, limit)
            pages.append(body)
        raise MalformedAnswer(self.backend, "GET", path, f"more than {assumptions.MAX_PAGES} pages", None)

    # -- objects -------------------------------------------------------------------------
    def company(self) -> dict[str, Any]:
        return self.get_object("/Company")

    def me(self) -> dict[str, Any]:
        return self.get_object("/Me")

    def get_object(self, path: str, query: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
        """A single-object answer: {"data": {...}}; anything else is an error naming the backend."""
        body = self.request("GET", path, query)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise MalformedAnswer(self.backend, "GET", path, "an answer without a `data` object", body)
        return data

    def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST, never blindly repeated. When its outcome is unknown the object is looked up by
        its natural key. After a 5xx answer (the server is done with the request) an absent
        object is created again. After no answer at all (a timeout, a reset) the server may
        still apply the first POST late, and nothing but its own uniqueness rules, which this
        does not rely on, would stop a second one: the object is looked for again after
        pauses, and if it is still absent the change is reported as unknown, for the next plan
        to settle. A refusal after an unknown outcome may be the first attempt's object
        colliding with the second: the look-up settles that too."""
        self._note_inactive(collection, body)
        uncertain = False
        for _ in range(self.retry.attempts):
            in_flight = False
            try:
                created = self.request("POST", f"/{collection}", body=body)
                data = created.get("data") if isinstance(created, dict) else None
                if not isinstance(data, dict) or not isinstance(data.get("ID"), str):
                    raise MalformedAnswer(self.backend, "POST", f"/{collection}", "a create answer without the "
                                          "created record's ID", created)
                return data
            except OutcomeUnknown as unknown:
                uncertain, in_flight = True, unknown.in_flight
            except ApiError as error:
                if not (uncertain and error.status in REFUSED_STATUSES):
                    raise
            found = self._find_created(collection, body, self.retry.settle_pauses if in_flight else (0.0,))
            if found is not None:
                return found
            if in_flight:
                raise OutcomeUnknown(f"POST /{collection}: no answer, and the object has not appeared; it may still "
                                     "be created late, so it is not sent again: the next plan shows whether it was")
        raise OutcomeUnknown(f"POST /{collection}: outcome still unknown after {self.retry.attempts} attempts; "
                             "the next plan shows whether it was created")

    def _find_created(self, collection: str, body: dict[str, Any],
                      pauses: tuple[float, ...]) -> dict[str, Any] | None:
        lookup = [(name, str(body.get(name))) for name in NATURAL_KEYS[collection]]
        for pause in pauses:
            time.sleep(pause)
            for record in self.list_all(collection, lookup):
                if all(str(record.get(name, "")).casefold() == value.casefold() for name, value in lookup):
                    return record
        return None

    def get_record(self, collection: str, record_id: str) -> dict[str, Any]:
        path = f"/{collection}/{record_id}"
        body = self.request("GET", path)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("ID") != record_id:
            raise MalformedAnswer(self.backend, "GET", path, "not the record asked for", body)
        return data

    def update(self, collection: str, record_id: str, body: dict[str, Any]) -> None:
        self.request("PATCH", f"/{collection}/{record_id}", body=body)
        self._note_inactive(collection, body)

    def _note_inactive(self, collection: str, body: dict[str, Any]) -> None:
        """A record written inactive: assignment reads must look for inactive targets from now on."""
        if body.get("IsActive") is False:
            with self._lock:
                self._has_inactive[collection] = True

    def delete(self, collection: str, record_id: str) -> None:
        self.request("DELETE", f"/{collection}/{record_id}")

    def assigned_ids(self, job_id: str, sub: str) -> list[str]:
        """Every task or user assigned to the job, inactive ones included.

        Whether GET /Jobs/{id}/Tasks|Users without IsActive hides inactive targets is open
        (assumptions.ASSIGNMENT_READS_HIDE_INACTIVE). Where it might, and this client has seen
        inactive targets of that kind (a whole list read found some, or it wrote one inactive),
        the inactive ones are read apart with IsActive=false, one value, which every transport
        keeps; once an unfiltered read is seen to include an inactive target, that second read is
        no longer made. Without such a sign (an account with no inactive targets, or a saved
        plan's apply, which reads only the lists it edits), one read, as before."""
        path = f"/Jobs/{job_id}/{sub}"
        ids = self._id_list("GET", path, self.request("GET", path))
        with self._lock:
            needed = (self._has_inactive.get(sub, False)
                      and self._assignment_reads_show_inactive.get(sub) is not True)
        if not needed:
            return ids
        try:
            inactive = self._id_list("GET", path, self.request("GET", path, query=[("IsActive", "false")]))
        except ApiError as error:
            if error.status not in (400, 422):
                raise
            with self._lock:  # the account takes no IsActive here: its unfiltered read is all there is
                self._assignment_reads_show_inactive[sub] = True
            return ids
        hidden = [i for i in inactive if i not in ids]
        with self._lock:
            if hidden:
                self._assignment_reads_show_inactive[sub] = False
            elif inactive:
                self._assignment_reads_show_inactive.setdefault(sub, True)
        return ids + hidden

    def _id_list(self, method: str, path: str, body: Any) -> list[str]:
        """The IDs of an assignment answer ({"data": [IDs]}); anything else is an error."""
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise MalformedAnswer(self.backend, method, path, "an assignment answer without a `data` array", body)
        # Some configurations return objects instead of bare ID strings: accept both.
        ids = [item.get("ID") if isinstance(item, dict) else item for item in data]
        if not all(isinstance(i, str) and i for i in ids):
            raise MalformedAnswer(self.backend, method, path, "an assignment list entry without an ID", body)
        return [str(i) for i in ids]

    # -- assignments read the other way round, and written as whole sets ---------------------
    def task_job_ids(self, task_id: str) -> list[str]:
        """GET /Tasks/{taskID}/Jobs: the jobs the task is assigned to (one answer, no pages)."""
        path = f"/Tasks/{task_id}/Jobs"
        return self._id_list("GET", path, self.request("GET", path))

    def user_job_ids(self, user_id: str, active: bool) -> list[str]:
        """GET /Jobs?UserID=: the active (or the inactive) jobs the user is assigned to, every
        page. One IsActive value per read: a repeated query key does not survive every transport."""
        query = [("UserID", user_id), ("IsActive", "true" if active else "false")]
        return [record["ID"] for record in self.list_pages("Jobs", query)]

    def put_assigned(self, job_id: str, sub: str, ids: Iterable[str]) -> list[str]:
        """PUT /Jobs/{jobID}/Tasks|Users with the whole set (a JSON array of IDs): what the
        account says the set now is. Idempotent, so a lost answer is simply sent again."""
        path = f"/Jobs/{job_id}/{sub}"
        return self._id_list("PUT", path, self.request("PUT", path, body=sorted(set(ids))))

    def assign(self, job_id: str, sub: str, target_id: str) -> None:
        uncertain = False
        for _ in range(self.retry.attempts):
            try:
                self.request("POST", f"/Jobs/{job_id}/{sub}", body={assumptions.ASSIGNMENT_BODY_FIELD[sub]: target_id})
                return
            except OutcomeUnknown:
                uncertain = True
            except ApiError as error:
                if not (uncertain and error.status in REFUSED_STATUSES):
                    raise
            if target_id in self.assigned_ids(job_id, sub):
                return
        raise OutcomeUnknown(f"POST /Jobs/{job_id}/{sub}: outcome still unknown after {self.retry.attempts} attempts")

    def unassign(self, job_id: str, sub: str, target_id: str) -> None:
        self.request("DELETE", f"/Jobs/{job_id}/{sub}/{target_id}")
