"""Cassettes: exchanges with a ClickTime API recorded through any transport, redacted, and replayed.

A cassette is a directory holding `cassette.json`:

    {"format": 1, "recorded": "2026-11-30T10:00:00Z", "backend": "clicktime",
     "exchanges": [{"request": {"method", "path", "query": [[k, v], ...], "body"},
                    "response": {"status", "headers": {...}, "body"}}]}

Recording (RecordingTransport) keeps exchanges in memory with the given secrets already removed;
writing (write_cassette) redacts the rest, so that a user can share the file:

- no credential anywhere: the given secrets, `Token x` / `Bearer x` / `Basic x`, JWTs and fields named
  like token/secret/password become `<secret>`; Authorization, Cookie and Set-Cookie headers are
  dropped, and so are the headers that described the wire rather than the stored body
  (Content-Encoding, Content-Length, Transfer-Encoding, Connection);
- every text that names a person, a company or a piece of work is masked, natural keys included:
  Email -> user1@example.invalid; ShortName -> CLIENT1, ClientNumber -> CN1, JobNumber -> JOB1,
  TaskCode -> TASK1, EmployeeNumber -> EMP1; Name, Notes and any other free text -> "Name 1",
  "Notes 1". A value gets the same mask everywhere in the cassette: in records, request bodies,
  query filters, page links and error messages. Masks are assigned case-insensitively and keep the
  original's case style (ACME -> CLIENT1, acme -> client1), so identity, uniqueness and values that
  differ only in case survive. Hence a configuration imported from the replayed account plans no
  change against it, and a plan against it is what it was against the account, names aside;
- kept as they were: IDs (fields ending in ID), dates and times, numbers, booleans, number-like and
  boolean-like strings, settings and enumerations (KEPT_FIELDS, and fields named like SecurityLevel,
  BillableSetting, JobRestrictionMethod, DataType, ...: KEPT_SUFFIXES), the field names of errors, and
  the keys of every object. Custom-field keys are kept (their format is one of the open questions),
  and so are the names of custom-field definitions, which are those keys; custom-field values and a
  Pulldown definition's choices share one group of masks ("CustomField 1").

ReplayTransport answers a request with the recorded response to the same method, path and query
(as a multiset); several recordings of one request are answered in order, the last one repeatedly.
A request that was not recorded gets a ClickTime-style 404.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from reconciler.clicktime.transport import Request, Response, Transport
from reconciler.errors import BackendError

FORMAT = 1
CASSETTE_FILE = "cassette.json"
SECRET = "<secret>"

DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                             "content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"})
SECRET_NAME = re.compile(r"(?i)token|secret|password|passwd|api_?key|credential|authori[sz]ation|cookie|session")
SECRET_PATTERNS = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "<jwt>"),
    (re.compile(r"(?i)\b(bearer|token|basic)(\s+|=)[\w.~+/=-]{4,}"), r"\1\2" + SECRET),
]
# Natural keys and identifiers of people: masked with a prefix and a number.
CODE_MASKS = {"ShortName": "Client", "ClientNumber": "Cn", "JobNumber": "Job", "TaskCode": "Task",
              "EmployeeNumber": "Emp"}
# Enumerations and settings whose values describe the account's behaviour, not its people or work.
KEPT_FIELDS = frozenset({"BillabilityBy", "OptionalModules", "TimeZone", "Currency", "CurrencyCode", "Field"})
KEPT_SUFFIXES = re.compile(r"(Method|Mode|Model|Setting|Level|Type|Status|Format|View|Period|TermSingular|TermPlural)$")
MESSAGE_FIELDS = frozenset({"Message", "MessageDetail", "Detail", "Title", "message"})
LINK_FIELDS = frozenset({"self", "first", "previous", "next", "last"})
PLAIN_VALUE = re.compile(
    r"|true|false|-?\d+(\.\d+)?"  # empty, boolean-like, number-like
    r"|\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", re.I)  # dates and times
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


class CassetteError(BackendError):
    """A cassette that cannot be read."""


@dataclass(frozen=True)
class Exchange:
    request: Request
    response: Response


@dataclass(frozen=True)
class Cassette:
    exchanges: tuple[Exchange, ...]
    backend: str = ""
    recorded: str = ""
    path: Path | None = None


# -- secrets ---------------------------------------------------------------------------------------
def scrub_text(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` without the given secrets and anything shaped like a credential."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, SECRET)
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(k): _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map_strings(v, change) for v in value]
    return value


def _scrub_exchange(exchange: Exchange, secrets: Sequence[str]) -> Exchange:
    def change(text: str) -> str:
        return scrub_text(text, secrets)

    request, response = exchange.request, exchange.response
    return Exchange(
        Request(request.method, change(request.path), tuple((change(k), change(v)) for k, v in request.query),
                _map_strings(request.body, change)),
        Response(response.status, _map_strings(response.body, change),
                 {change(k): change(v) for k, v in response.headers.items()}))


# -- recording -------------------------------------------------------------------------------------
class RecordingTransport:
    """Wraps any transport and keeps every exchange (secrets removed); answers are passed on unchanged.
    A request that got no answer (TransportError) is not recorded."""

    def __init__(self, inner: Transport, secrets: Iterable[str] = ()) -> None:
        self.inner = inner
        self.secrets = [s for s in secrets if s]
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def send(self, request: Request) -> Response:
        response = self.inner.send(request)
        exchange = _scrub_exchange(Exchange(request, response), self.secrets)
        with self._lock:
            self._exchanges.append(exchange)
        return response

    def close(self) -> None:
        self.inner.close()

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def write(self, directory: str | os.PathLike[str], backend: str) -> Path:
        return write_cassette(directory, self.exchanges, backend, self.secrets)


# -- redaction -------------------------------------------------------------------------------------
def _case_style(text: str) -> str:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "none"
    if all(c.isupper() for c in letters):
        return "upper"
    return "lower" if all(c.islower() for c in letters) else "mixed"


def _render(mask: str, style: str, group: str) -> str:
    """`mask` in the case style of the value it replaces (codes without letters stay upper case)."""
    if style == "upper" or (style == "none" and group in CODE_MASKS):
        return mask.upper()
    if style == "lower":
        return mask.lower()
    return mask[:1].upper() + mask[1:] if style == "mixed" else mask


class Redactor:
    """Consistent masks for one cassette. Run `exchange` over every exchange once to learn the values,
    then again for the result, so that an error message naming a value that appears only in a later
    exchange is masked too."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self.secrets = list(secrets)
        self._masks: dict[tuple[str, str], str] = {}  # (group, casefolded value) -> mask
        self._counts: dict[str, int] = {}
        self._seen: dict[str, tuple[str, str]] = {}  # original text -> its mask's key, for free text
        self._pattern: re.Pattern[str] | None = None

    @staticmethod
    def _group(field: str) -> str:
        return "Email" if field.endswith("Email") else field

    def _mask(self, field: str, value: str) -> str:
        group = self._group(field)
        key = (group, value.casefold())
        if key not in self._masks:
            n = self._counts[group] = self._counts.get(group, 0) + 1
            if group == "Email":
                self._masks[key] = f"user{n}@example.invalid"
            elif group in CODE_MASKS:
                self._masks[key] = f"{CODE_MASKS[group]}{n}"
            else:
                self._masks[key] = f"{group} {n}"
            self._pattern = None
        self._seen.setdefault(value, key)
        return self._rendered(value, key)

    def _rendered(self, original: str, key: tuple[str, str]) -> str:
        group = key[0]
        return _render(self._masks[key], _case_style(original.split("@")[0] if group == "Email" else original), group)

    def scrub(self, text: str) -> str:
        return scrub_text(text, self.secrets)

    def value(self, field: str, value: Any) -> Any:
        """A value of field `field` (an object key or a query parameter), redacted."""
        if isinstance(value, dict):
            definition = "DataType" in value and "EntityType" in value
            return {self.scrub(k): self.value(self._inner(field, k, definition), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(field, v) for v in value]
        if not isinstance(value, str):
            return value
        if SECRET_NAME.search(field):
            return SECRET
        if field in MESSAGE_FIELDS:
            return self.text(value)
        if field in LINK_FIELDS:
            return self.link(value)
        if field == "ID" or field.endswith("ID") or field in KEPT_FIELDS or KEPT_SUFFIXES.search(field):
            return self.scrub(value)
        if field in CODE_MASKS or self._group(field) == "Email":
            return self._mask(field, value) if value else value
        if PLAIN_VALUE.fullmatch(value):
            return value
        return self._mask(field, value)

    @staticmethod
    def _inner(field: str, key: str, definition: bool) -> str:
        """The field a value inside an object is masked as. Custom-field values share one group, the
        choices of their definitions included; a definition's names are the (kept) CustomFields keys."""
        if field == "CustomFields" or (definition and key == "PulldownValues"):
            return "CustomField"
        return "Field" if definition and key in ("Name", "DisplayName") else key

    def query(self, query: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(self.scrub(k), self.value(k, v)) for k, v in query]

    def link(self, url: str) -> str:
        parts = urlsplit(url)
        query = urlencode(self.query(parse_qsl(parts.query, keep_blank_values=True)))
        return urlunsplit(parts._replace(path=self.scrub(parts.path), query=query))

    def text(self, text: str) -> str:
        """Free text (error messages, header values): secrets scrubbed, known values and emails masked."""
        text = self.scrub(text)
        if self._pattern is None and self._seen:
            names = sorted((s for s in self._seen if len(s) >= 2), key=len, reverse=True)
            if names:
                self._pattern = re.compile(rf"(?<![\w@.-])({'|'.join(map(re.escape, names))})(?![\w@-])")
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self._rendered(m.group(1), self._seen[m.group(1)]), text)
        return EMAIL.sub(lambda m: m.group(0) if m.group(0).lower().endswith("@example.invalid")
                         else self._mask("Email", m.group(0)), text)

    def body(self, body: Any) -> Any:
        if isinstance(body, dict):
            return {self.scrub(k): self._top(k, v) for k, v in body.items()}
        if isinstance(body, list):  # e.g. PUT /Jobs/{id}/Tasks: an array of IDs
            return self._top("data", body)
        if isinstance(body, str):
            return self.text(body)
        return body

    def _top(self, key: str, value: Any) -> Any:
        if key == "data" and isinstance(value, list):  # records, or the IDs an assignment list holds
            return [self.value("ID" if isinstance(v, str) else "data", v) for v in value]
        if key == "page" and isinstance(value, dict):
            return {self.scrub(k): ({n: self.value(n, u) for n, u in v.items()} if k == "links" and isinstance(v, dict)
                                    else self.value(k, v)) for k, v in value.items()}
        return self.value(key, value)

    def exchange(self, exchange: Exchange) -> dict[str, Any]:
        request, response = exchange.request, exchange.response
        headers = {self.scrub(k): self.text(v) for k, v in response.headers.items()
                   if k.lower() not in DROPPED_HEADERS and not SECRET_NAME.search(k)}
        return {"request": {"method": request.method.upper(), "path": self.scrub(request.path),
                            "query": [list(p) for p in self.query(request.query)], "body": self.body(request.body)},
                "response": {"status": response.status, "headers": headers, "body": self.body(response.body)}}


def redact(exchanges: Sequence[Exchange], secrets: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The exchanges as cassette entries, redacted (see the module's docstring)."""
    redactor = Redactor(secrets)
    for exchange in exchanges:  # learn every value first
        redactor.exchange(exchange)
    return [redactor.exchange(exchange) for exchange in exchanges]


def write_cassette(directory: str | os.PathLike[str], exchanges: Sequence[Exchange], backend: str,
                   secrets: Sequence[str] = (), recorded: str | None = None) -> Path:
    """Write `exchanges`, redacted, to `directory`/cassette.json (atomically); returns the file."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    document = {"format": FORMAT,
                "recorded": recorded or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "backend": scrub_text(backend, secrets), "exchanges": redact(exchanges, secrets)}
    target = folder / CASSETTE_FILE
    partial = folder / f".{CASSETTE_FILE}.partial"
    partial.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(target)
    return target


# -- loading ---------------------------------------------------------------------------------------
def load_cassette(directory: str | os.PathLike[str]) -> Cassette:
    """The cassette in `directory` (or the cassette.json file itself). Raises CassetteError saying
    where a malformed file goes wrong."""
    path = Path(directory)
    if path.is_dir() or not path.suffix:
        path = path / CASSETTE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CassetteError(f"{path}: no cassette here (expected a directory holding {CASSETTE_FILE})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CassetteError(f"{path}: cannot read the cassette: {error}") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CassetteError(f"{path}: not valid JSON: {error}") from None
    return _cassette(document, path)


def _cassette(document: Any, path: Path) -> Cassette:
    def fail(where: str, message: str) -> CassetteError:
        return CassetteError(f"{path}: {where}: {message}" if where else f"{path}: {message}")

    if not isinstance(document, dict):
        raise fail("", "a cassette is a JSON object with format, recorded, backend and exchanges")
    if document.get("format") != FORMAT:
        raise fail("format", f"{document.get('format')!r} is not a cassette format this version reads ({FORMAT})")
    for name in ("recorded", "backend"):
        if not isinstance(document.get(name, ""), str):
            raise fail(name, "expected a string")
    items = document.get("exchanges")
    if not isinstance(items, list):
        raise fail("exchanges", "expected a list of {request, response} objects")
    exchanges = []
    for index, item in enumerate(items):
        where = f"exchanges[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("request"), dict) \
                or not isinstance(item.get("response"), dict):
            raise fail(where, "expected an object with a request and a response object")
        exchanges.append(Exchange(_request(item["request"], f"{where}.request", fail),
                                  _response(item["response"], f"{where}.response", fail)))
    return Cassette(tuple(exchanges), document.get("backend", ""), document.get("recorded", ""), path)


def _request(data: Mapping[str, Any], where: str, fail: Callable[[str, str], CassetteError]) -> Request:
    method, path, query = data.get("method"), data.get("path"), data.get("query", [])
    if not isinstance(method, str) or not method:
        raise fail(f"{where}.method", "expected an HTTP method")
    if not isinstance(path, str) or not path.startswith("/"):
        raise fail(f"{where}.path", "expected a path starting with /")
    if not isinstance(query, list):
        raise fail(f"{where}.query", "expected a list of [key, value] pairs")
    for n, pair in enumerate(query):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise fail(f"{where}.query[{n}]", "expected a [key, value] pair of strings")
    return Request(method.upper(), path, tuple((k, v) for k, v in query), data.get("body"))


def _response(data: Mapping[str, Any], where: str, fail: Callable[[str, str], CassetteError]) -> Response:
    status, headers = data.get("status"), data.get("headers", {})
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise fail(f"{where}.status", "expected an HTTP status (100-599)")
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise fail(f"{where}.headers", "expected an object of strings")
    return Response(status, data.get("body"), dict(headers))


# -- replay ----------------------------------------------------------------------------------------
def _key(method: str, path: str, query: Iterable[tuple[str, str]]) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    return method.upper(), path.rstrip("/") or "/", tuple(sorted(query))


class ReplayTransport:
    """Answers from a cassette: the recorded response to the same method, path and query multiset."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self._answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[Response]] = {}
        for exchange in cassette.exchanges:
            request = exchange.request
            self._answers.setdefault(_key(request.method, request.path, request.query), []).append(exchange.response)
        self._used: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
        self._lock = threading.Lock()

    def send(self, request: Request) -> Response:
        key = _key(request.method, request.path, request.query)
        answers = self._answers.get(key)
        if not answers:
            query = f"?{urlencode(request.query)}" if request.query else ""
            shown = f"{request.method.upper()} {request.path}{query}"
            missing = {"Field": None, "Message": f"{shown} is not in the cassette"}
            return Response(404, {"data": None, "errors": [missing]},
                            {"Content-Type": "application/json"})
        with self._lock:
            index = self._used.get(key, 0)
            self._used[key] = index + 1
        return answers[min(index, len(answers) - 1)]

    def close(self) -> None:
        pass
