"""Response styles: ways the real ClickTime service may answer that the emulator does not show.

Each style is one plausible answer to a question the public sources leave open (see
reconciler/clicktime/assumptions.py). The emulator keeps its one arbitrary choice; a style rewrites
its answer (and, for the three that concern what the server reads, the request it sees) so that
the tool can be tested against every variant, in-process (SandboxTransport) and over HTTP
(EmulatorServer, Knobs.style).

    style = parse_styles("omit-nulls,datetimes")
    answer = styled(style, lambda r: handle(style, emulator, r), request, "https://api.clicktime.com/v2")

The default style changes nothing and copies nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from reconciler.clicktime.transport import Request, Response
from reconciler.errors import ReconcilerError

if TYPE_CHECKING:
    from reconciler.sandbox.emulator import Emulator

STYLES: dict[str, str] = {
    "omit-nulls": "fields whose value is null are left out of records",
    "datetimes": "YYYY-MM-DD values in records come back as YYYY-MM-DDT00:00:00",
    "conflict-409": "duplicate and uniqueness refusals answer 409 instead of 400",
    "small-pages": "the largest page granted is 50; a larger limit is clamped and page.limit says so",
    "absolute-links": "page.links carries absolute self/first/previous/next URLs keeping every filter",
    "decimals-as-strings": "numeric fields of records come back as strings",
    "inactive-by-default": "lists include inactive records when IsActive is not sent",
    "last-query-wins": "a repeated query key keeps only its last value",
    "assignments-hide-inactive": "assignment lists (a job's tasks and users, a task's jobs) leave inactive "
                                 "records out unless IsActive is sent",
}
SMALL_PAGE = 50
# Collections whose GET list hides inactive records unless IsActive is sent (the emulator's default).
LIST_PATHS = re.compile(r"/(Clients|Jobs|Tasks|Users|Divisions|EmploymentTypes)/?")
# Assignment lists, both directions (the emulator's default includes inactive records in them).
ASSIGNMENT_PATHS = re.compile(r"/Jobs/[^/]+/(Tasks|Users)|/Tasks/[^/]+/Jobs")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The emulator's refusals of a duplicate: "... must be unique", "... is already assigned ...".
DUPLICATE_MESSAGE = re.compile(r"must be unique|already (used|taken|exists|in use|assigned)|duplicate", re.I)


@dataclass(frozen=True)
class ResponseStyle:
    """Which variants are on. Field names are the style names with `_` for `-`."""

    omit_nulls: bool = False
    datetimes: bool = False
    conflict_409: bool = False
    small_pages: bool = False
    absolute_links: bool = False
    decimals_as_strings: bool = False
    inactive_by_default: bool = False
    last_query_wins: bool = False
    assignments_hide_inactive: bool = False

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_STYLE

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name))

    def __str__(self) -> str:
        return ",".join(self.names) or "default"


DEFAULT_STYLE = ResponseStyle()


def parse_styles(text: str) -> ResponseStyle:
    """`"omit-nulls, datetimes"` -> a ResponseStyle; "" or "default" is the emulator's own style."""
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in STYLES and name != "default"]
    if unknown:
        raise ReconcilerError(f"Unknown response style(s): {', '.join(unknown)}; known: {', '.join(STYLES)}")
    return ResponseStyle(**{name.replace("-", "_"): True for name in wanted if name != "default"})


# -- what the server reads -------------------------------------------------------------------------
def fold_query(query: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """A string-to-string record: one value per key, the last one, at the key's first position."""
    return tuple(dict(query).items())


def prepare_request(style: ResponseStyle, request: Request) -> Request:
    """The request as a server of this style reads it."""
    query = fold_query(request.query) if style.last_query_wins else request.query
    if (style.inactive_by_default and request.method.upper() == "GET" and LIST_PATHS.fullmatch(request.path)
            and not any(name == "IsActive" for name, _ in query)):
        # The emulator hides inactive records by default; asking for both is "include them".
        query = (*query, ("IsActive", "true"), ("IsActive", "false"))
    if (style.assignments_hide_inactive and request.method.upper() == "GET"
            and ASSIGNMENT_PATHS.fullmatch(request.path) and not any(name == "IsActive" for name, _ in query)):
        query = (*query, ("IsActive", "true"))
    return request if query is request.query else replace(request, query=query)


# -- what the server answers -----------------------------------------------------------------------
def apply_style(style: ResponseStyle, request: Request, response: Response, base_url: str) -> Response:
    """The emulator's `response` to `request` (as the client sent it) rewritten in `style`.
    `base_url` is the API root absolute links start with, e.g. "http://127.0.0.1:8765/v2"."""
    if style.is_default:
        return response
    status, body = response.status, response.body
    if style.conflict_409 and status == 400 and _is_duplicate(body):  # an answer not from `handle`
        status = 409
    if isinstance(body, dict):
        body = dict(body)
        if isinstance(body.get("page"), dict) and isinstance(body.get("data"), list):
            body = _page(style, request, body, base_url)
        if style.omit_nulls or style.datetimes or style.decimals_as_strings:
            data = body.get("data")
            if isinstance(data, dict):
                body["data"] = _record(style, data)
            elif isinstance(data, list):
                body["data"] = [_record(style, r) if isinstance(r, dict) else r for r in data]
    if status == response.status and body is response.body:
        return response
    return Response(status, body, response.headers)


def styled(style: ResponseStyle, handle: Callable[[Request], Response], request: Request, base_url: str) -> Response:
    """Answer `request` with `handle` (the emulator) as a server of `style` would."""
    if style.is_default:
        return handle(request)
    return apply_style(style, request, handle(prepare_request(style, request)), base_url)


def handle(style: ResponseStyle, emulator: Emulator, request: Request, caller: str | None = None) -> Response:
    """`emulator.handle`, refusing duplicates with 409 under conflict-409. The emulator's status is
    swapped for this one call (under its lock), so that others sharing the emulator are unaffected."""
    if not style.conflict_409:
        return emulator.handle(request, caller)
    with emulator.lock:
        status, emulator.duplicate_status = emulator.duplicate_status, 409
        try:
            return emulator.handle(request, caller)
        finally:
            emulator.duplicate_status = status


def _is_duplicate(body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and DUPLICATE_MESSAGE.search(str(e.get("Message", ""))) for e in errors)


def _page(style: ResponseStyle, request: Request, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    page = dict(body["page"])
    limit, offset, count = page.get("limit"), page.get("offset"), page.get("count")
    if not (isinstance(limit, int) and isinstance(offset, int) and isinstance(count, int)):
        return body
    clamped = style.small_pages and limit > SMALL_PAGE
    if clamped:
        limit = page["limit"] = SMALL_PAGE
        body["data"] = body["data"][:SMALL_PAGE]
    if style.absolute_links:
        query = fold_query(request.query) if style.last_query_wins else request.query
        filters = [(k, v) for k, v in query if k not in ("limit", "offset")]

        def link(at: int) -> str:
            return f"{base_url.rstrip('/')}{request.path}?{urlencode([*filters, ('limit', limit), ('offset', at)])}"
    elif clamped and page.get("links"):
        def link(at: int) -> str:  # the emulator's own relative form
            return f"{request.path}?limit={limit}&offset={at}"
    else:
        body["page"] = page
        return body
    links = dict(page.get("links") or {})
    links.update({"self": link(offset), "first": link(0),
                  "previous": link(max(0, offset - limit)) if offset > 0 else None,
                  "next": link(offset + limit) if offset + limit < count else None})
    page["links"] = links
    body["page"] = page
    return body


def _record(style: ResponseStyle, record: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(style, value) for name, value in record.items()
            if not (style.omit_nulls and value is None)}


def _value(style: ResponseStyle, value: Any) -> Any:
    if isinstance(value, dict):
        return _record(style, value)
    if isinstance(value, list):
        return [_value(style, v) for v in value]
    if style.datetimes and isinstance(value, str) and DATE.fullmatch(value):
        return f"{value}T00:00:00"
    if style.decimals_as_strings and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value
