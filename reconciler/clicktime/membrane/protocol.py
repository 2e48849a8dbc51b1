"""What Membrane prints or answers, read into ClickTime Responses or Membrane errors.

Membrane's proxy returns ClickTime's answer unchanged; what the CLI prints around it is not
documented, so the output is parsed tolerantly (membrane/assumptions.py lists every shape assumed):

    ClickTime's answer (status known)      -> Response(status, body): the client retries 429/5xx,
                                              raises ApiError otherwise (401 -> reconnect message)
    Membrane rate_limit_exceeded           -> Response(429): retried like the http transport's
    Membrane internal/dependency errors    -> Response(500): retried for reads; a create's outcome
                                              is unknown and the client looks it up before repeating
    not logged in / connection defunct /   -> MembraneError (a BackendError) saying how to fix it
    unknown connection / bad arguments
    a crash or an unreadable answer        -> TransportError(sent=True)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.clicktime.client import error_messages
from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.membrane.errors import (
    ErrorContext,
    MembraneError,
    MembraneLoginError,
    MembraneOutputError,
    MembraneReauthError,
    NotMembraneCli,
)
from reconciler.clicktime.transport import Response, TransportError


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_JSON_START = re.compile(r"^[ \t]*[\[{]", re.M)
_USAGE_ERROR = re.compile(r"unknown (command|option|argument|flag)|unexpected argument|invalid option|"
                          r"did you mean|usage:", re.I)


def clean(text: str) -> str:
    return str(MA.ANSI_ESCAPE.sub("", text or "")).replace("\r\n", "\n")


def find_json(text: str) -> Any:
    """The JSON value a command printed: the whole text, or the first JSON value that starts a line
    (banner lines, warnings or progress output before it are skipped). MISSING if there is none."""
    stripped = text.strip()
    if not stripped:
        return MISSING
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for match in _JSON_START.finditer(text):
        try:
            value, _ = decoder.raw_decode(text, match.end() - 1)
        except ValueError:
            continue
        return value
    return MISSING


def first_line(text: str, limit: int = 300) -> str:
    for line in clean(text).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def membrane_error(value: Any) -> dict[str, Any] | None:
    """Membrane's ErrorData {type, key?, message, data?}, unwrapped from {"error": ...}; else None.

    A ClickTime body never has a top-level `type` + `message` (its envelope is data/page/errors/meta)."""
    if not isinstance(value, dict) or "errors" in value:
        return None
    if isinstance(value.get("type"), str) and isinstance(value.get("message"), str):
        return value
    inner = value.get("error")
    if isinstance(inner, dict):
        found = membrane_error(inner)
        if found is not None:
            return found
        if isinstance(inner.get("message"), str):
            return {"type": str(inner.get("type") or ""), "key": inner.get("key") or inner.get("code"), **inner}
    if isinstance(inner, str) and "data" not in value:
        message = value.get("message") if isinstance(value.get("message"), str) else inner
        return {"type": "", "key": value.get("key") or value.get("code") or inner, "message": message}
    if value.get("code") in MA.REAUTH_KEYS and isinstance(value.get("message"), str):
        return {"type": "connection", "key": value["code"], "message": value["message"]}
    return None


def _decode_body(body: Any, status: int) -> Any:
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError:
            return {"errors": [{"Message": f"non-JSON answer (HTTP {status}): {first_line(body, 200)}"}]}
    return body


def upstream_response(status: int, body: Any, headers: Mapping[str, Any], ctx: ErrorContext) -> Response:
    """ClickTime's own answer, as Membrane's proxy passed it on."""
    body = _decode_body(body, status)
    headers = {str(k): str(v) for k, v in (headers or {}).items() if v is not None}
    if status == 401 and MA.UPSTREAM_401_MEANS_REAUTH:
        said = "; ".join(error_messages(body)) or "no message"
        raise MembraneReauthError(
            f"ClickTime rejected the credentials of Membrane connection {ctx.connection_id} (HTTP 401: {said})",
            ctx.reconnect())
    return Response(status, body, headers)


def outcome_from_error(error: Mapping[str, Any], status: int | None, headers: Mapping[str, Any],
                       ctx: ErrorContext) -> Response:
    """Membrane's ErrorData as a Response the client knows how to treat, or a MembraneError."""
    data: Mapping[str, Any] = error["data"] if isinstance(error.get("data"), dict) else {}
    upstream = data["response"] if isinstance(data.get("response"), dict) else None
    if upstream is not None and isinstance(upstream.get("status"), int):
        inner = membrane_error(_decode_body(upstream.get("data"), upstream["status"]))
        if inner is not None:  # Membrane's own answer (our login, its limits), not ClickTime's
            return outcome_from_error(inner, upstream["status"], upstream.get("headers") or {}, ctx)
        return upstream_response(upstream["status"], upstream.get("data"), upstream.get("headers") or {}, ctx)
    key = str(error.get("key") or error.get("code") or "")
    kind = str(error.get("type") or "")
    message = str(error.get("message") or key or kind or "unknown error")
    status = status or MA.ERROR_STATUS_BY_KEY.get(key)
    said = f"Membrane: {message}" + (f" ({kind}/{key})" if kind or key else "")
    if key in MA.RATE_LIMIT_KEYS or status == 429:
        kept = {k: str(v) for k, v in (headers or {}).items() if str(k).lower() == "retry-after"}
        return Response(429, {"errors": [{"Message": said}]}, kept)
    if key in MA.REAUTH_KEYS or kind == "connection":
        raise MembraneReauthError(f"Membrane connection {ctx.connection_id} needs re-authentication ({said})",
                                  ctx.reconnect())
    if key == "not_authenticated" or status == 401:
        raise MembraneLoginError(f"Membrane did not accept the login ({said})", ctx.login_fix)
    if key == "access_denied" or status == 403:
        raise MembraneError(f"Membrane refused access to connection {ctx.connection_id} ({said})",
                            "log in to the workspace and tenant that own the connection, or pick another "
                            f"connection ({ctx.connections_hint})")
    if key == "not_found" or status == 404:
        raise MembraneError(f"Membrane has no connection {ctx.connection_id!r} ({said})",
                            f"pass the ID of your ClickTime connection with --connection ({ctx.connections_hint})")
    if kind in MA.RETRYABLE_TYPES or (status is not None and status >= 500):
        return Response(status if status and status >= 500 else 500, {"errors": [{"Message": said}]})
    raise MembraneError(f"Membrane refused the request ({said})")


def _wrapper_parts(value: Any) -> tuple[int, Any, Mapping[str, Any]] | None:
    """(status, body, headers) if `value` is an axios/fetch-style response object."""
    if not isinstance(value, dict) or "page" in value or "errors" in value:
        return None
    keys = MA.RESPONSE_WRAPPER_KEYS
    status = next((value[k] for k in keys["status"]
                   if isinstance(value.get(k), int) and not isinstance(value.get(k), bool)), None)
    if status is None or not 100 <= status <= 599:
        return None
    body = next((value[k] for k in keys["body"] if k in value), None)
    headers: Mapping[str, Any] = next((value[k] for k in keys["headers"] if isinstance(value.get(k), dict)), {})
    return status, body, headers


def response_from_output(value: Any, ctx: ErrorContext) -> Response:
    """A successful command's JSON: bare ClickTime body, {status, headers, data}, or {output: ...}."""
    parts = _wrapper_parts(value)
    if parts is not None:
        status, body, headers = parts
        inner = membrane_error(_decode_body(body, status))
        if inner is not None and status >= 400:
            return outcome_from_error(inner, status, headers, ctx)
        return upstream_response(status, body, headers, ctx)
    if isinstance(value, dict) and "output" in value and "data" not in value and "errors" not in value:
        return response_from_output(value["output"], ctx)
    if isinstance(value, dict) and ("data" in value or "errors" in value):
        return Response(MA.SUCCESS_STATUS_WHEN_UNKNOWN, value, {})
    raise MembraneOutputError(value)


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]  # without the binary
    returncode: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return clean(self.stderr) + "\n" + clean(self.stdout)


def interpret_request(result: CliResult, method: str, ctx: ErrorContext) -> Response:
    """The Response for one `membrane request`, from its exit code, stdout and stderr."""
    out_text, err_text = clean(result.stdout), clean(result.stderr)
    out = find_json(out_text)
    if result.returncode == 0 and out is not MISSING and membrane_error(out) is None:
        return response_from_output(out, ctx)
    err = find_json(err_text)
    for value in (out, err):
        found = membrane_error(value)
        if found is not None:
            return outcome_from_error(found, None, {}, ctx)
    if result.returncode == 0:
        if not out_text.strip():
            if method in MA.EMPTY_OUTPUT_MEANS:
                return Response(MA.EMPTY_OUTPUT_MEANS[method], None, {})
            raise TransportError("`membrane request` printed nothing", sent=True)
        raise TransportError(f"`membrane request` printed no JSON: {first_line(out_text)!r}", sent=True)
    # A non-zero exit without Membrane's error object.
    for value in (out, err):
        if _wrapper_parts(value) is not None:
            return response_from_output(value, ctx)
    if MA.NOT_LOGGED_IN_PATTERN.search(result.text):
        raise MembraneLoginError(f"the membrane CLI is not logged in ({first_line(err_text or out_text)})",
                                 ctx.login_fix)
    for value in (out, err):
        if isinstance(value, dict) and error_messages(value):
            return Response(400, value, {})  # ClickTime's error body; its status was not printed
    if _USAGE_ERROR.search(result.text):
        raise NotMembraneCli(f"the membrane CLI did not accept `membrane {' '.join(result.args[:1])} ...`: "
                             f"{first_line(err_text or out_text)}",
                             f"install Membrane's CLI {MA.MIN_CLI_VERSION[0]}.{MA.MIN_CLI_VERSION[1]} or later "
                             f"(`npm install -g {MA.CLI_PACKAGE}@{MA.PINNED_CLI_VERSION}`); "
                             "`reconciler doctor` checks it")
    said = first_line(err_text) or first_line(out_text) or "no output"
    raise TransportError(f"`membrane request` exited with code {result.returncode}: {said}", sent=True)
