"""Every shape this project assumes about the real Membrane CLI and API, in one place.

No real Membrane account or CLI was available when the Membrane backends were written (see
../shared/reference/membrane.md, "the reference" below). Each entry here is one assumption, with
its confidence label from the reference:

    C  confirmed by a primary source (official docs, SDK code, official skills, or SDK traffic);
    I  inferred from indirect evidence: a hypothesis to check against a real account;
    ?  unknown: no public evidence; we picked the most plausible shape and accept the others.

The transports (membrane/cli.py, membrane/api.py) rely on these; the test fakes
(tests/fakes/membrane, tests/fakes/membrane_api_server.py) import them to produce the same shapes,
so that replacing an entry with a recording from a real account changes both sides at once.
Where the real shape is unknown the parser accepts every plausible variant, and the fake can
produce each of them (see REQUEST_OUTPUT_SHAPES and CONNECTION_LIST_SHAPES).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Assumption:
    name: str
    value: Any
    confidence: str  # "C", "I" or "?"
    reason: str


ASSUMPTIONS: dict[str, Assumption] = {}


def _assume(name: str, value: Any, confidence: str, reason: str) -> Any:
    assert confidence in ("C", "I", "?"), confidence
    ASSUMPTIONS[name] = Assumption(name, value, confidence, reason)
    return value


# ---------------------------------------------------------------------------------------------
# The CLI binary
# ---------------------------------------------------------------------------------------------
CLI_BINARY = _assume(
    "CLI_BINARY", "membrane", "C",
    "The skills invoke `membrane ...`; the npm package @membranehq/cli installs that binary.")
CLI_PACKAGE = _assume(
    "CLI_PACKAGE", "@membranehq/cli", "C",
    "npm package named in the CLI READMEs (socket.dev, pkgstats, unpkg).")
# The version the documentation tells users to pin. Only its README was read, never run.
PINNED_CLI_VERSION = _assume(
    "PINNED_CLI_VERSION", "1.18.0", "I",
    "Newest README seen (pkgstats). The reference advises pinning a version in docs and CI "
    "because commands churned between 1.0, 1.1, 1.13 and 1.18.")
MIN_CLI_VERSION = _assume(
    "MIN_CLI_VERSION", (1, 13), "I",
    "1.0.x only had workspace init/pull/push; the 1.13.3 README is the first to show `login "
    "--tenant` and the tenant commands (`request`, `connection`). Whether 1.2-1.12 had `request` is unknown.")
VERSION_PATTERN = _assume(
    "VERSION_PATTERN", re.compile(r"(\d+)\.(\d+)\.(\d+)"), "I",
    "`membrane --version` prints a semantic version somewhere in its output (minimist/ink CLIs "
    "conventionally print `1.18.0` or `@membranehq/cli/1.18.0`). Its exact text is unknown, so we only "
    "look for the first x.y.z. A binary whose --version fails or prints no version is not Membrane's "
    "CLI (the reference lists unrelated `membrane` binaries).")
FAKE_VERSION_OUTPUT = _assume(
    "FAKE_VERSION_OUTPUT", "1.18.0\n", "?",
    "What the fake prints for --version: the bare version, the shape most CLIs use.")
INSTALL_HINT = _assume(
    "INSTALL_HINT", f"install Node.js 18 or later, then `npm install -g {CLI_PACKAGE}@{PINNED_CLI_VERSION}`", "I",
    "The CLI is an npm package (C); the Node version it needs is not documented; 18 is the oldest "
    "maintained LTS line when the reference was written.")
CLI_ENV = _assume(
    "CLI_ENV", {"NO_COLOR": "1", "FORCE_COLOR": "0"}, "I",
    "The CLI is built on ink/chalk, which honour NO_COLOR/FORCE_COLOR; colour codes would only get "
    "in the way of parsing. stdin is closed (not a TTY), which the README says makes `login` "
    "non-interactive instead of opening a browser (C).")
# Seconds a CLI call may take on top of the ClickTime answer: Node start-up, loading the bundle,
# and with a cold cache a token exchange before the API call.
CLI_STARTUP_ALLOWANCE = _assume(
    "CLI_STARTUP_ALLOWANCE", 10.0, "I",
    "The reference estimates 0.5-1.5 s per call (not measured), plus a possible token exchange.")
DEFAULT_CLI_CONCURRENCY = _assume(
    "DEFAULT_CLI_CONCURRENCY", 4, "I",
    "Each call starts Node; parallel calls may race on ~/.membrane/credentials.json when they "
    "refresh cached tokens. The reference advises bounding concurrency to 1-4.")

# ---------------------------------------------------------------------------------------------
# Login and connections
# ---------------------------------------------------------------------------------------------
LOGIN_COMMAND = _assume(
    "LOGIN_COMMAND", "membrane login --tenant", "C",
    "v1.13/v1.18 README. Headless: `membrane login --tenant --non-interactive`, open the printed URL, "
    "then `membrane login complete <code>`.")
NOT_LOGGED_IN_PATTERN = _assume(
    "NOT_LOGGED_IN_PATTERN", re.compile(r"not (logged|signed) in|please (log|sign) ?in|membrane login|"
                                        r"not[_ ]authenticated|unauthori[sz]ed|login required", re.I), "I",
    "How a logged-out CLI says so is undocumented: either an ErrorData with key not_authenticated "
    "(docs' error keys, C) or text pointing to `membrane login` / a consent URL.")
CONNECTION_LIST_ARGS = _assume(
    "CONNECTION_LIST_ARGS", ("connection", "list", "--json"), "C",
    "CLI reference in the official integrate-anything skill; --json prints machine-readable JSON to stdout.")
CONNECTION_LIST_SHAPES = _assume(
    "CONNECTION_LIST_SHAPES", ("items", "list"), "I",
    "The API answers {\"items\": [...], \"cursor\"?} (C); the CLI prints that object or only the "
    "array (I). Both are accepted; the fake can print either.")
CONNECTION_STATE_READY = _assume(
    "CONNECTION_STATE_READY", "READY", "C",
    "SDK enum: BUILDING | CLIENT_ACTION_REQUIRED | CONFIGURATION_ERROR | SETUP_FAILED | READY | DISCONNECTING.")
CONNECTION_NEEDS_USER_STATES = _assume(
    "CONNECTION_NEEDS_USER_STATES", ("CLIENT_ACTION_REQUIRED", "CONFIGURATION_ERROR", "SETUP_FAILED"), "C",
    "SDK enum; a disconnected connection has disconnected: true and/or state CLIENT_ACTION_REQUIRED with "
    "clientAction.type \"connect\" (reference section 4).")
RECONNECT_COMMAND = _assume(
    "RECONNECT_COMMAND", "membrane connect --connectionId {id}", "C",
    "Reference section 4: reconnect the same connection rather than create a new one.")
CONNECT_COMMAND = _assume(
    "CONNECT_COMMAND", "membrane connect --connectorKey clicktime", "I",
    "One of three documented ways to create the connection (clawhub copy of the skill); the April "
    "skill uses `membrane connection ensure \"https://www.clicktime.com/\" --json`.")
CLICKTIME_MARKERS = _assume(
    "CLICKTIME_MARKERS", ("clicktime",), "I",
    "A ClickTime connection is recognised by `integration.key`, `integrationKey`, `connectorKey`, "
    "`integration.name` or `name` containing \"clicktime\" (case-insensitive). The connector key is "
    "`clicktime` in the skill's `connect --connectorKey clicktime`; the fields that carry it on a "
    "connection are partly unknown, so several are tried.")

# ---------------------------------------------------------------------------------------------
# `membrane request`: arguments
# ---------------------------------------------------------------------------------------------
REQUEST_ARGV = _assume(
    "REQUEST_ARGV", "request <connectionId> <path> -X <METHOD> [--query k=v]... [-d <json>] --json", "C",
    "Flag table of `membrane request` in the integrate-anything skill. Arguments go as an argv list, "
    "never through a shell.")
REQUEST_JSON_FLAG_ALWAYS = _assume(
    "REQUEST_JSON_FLAG_ALWAYS", True, "I",
    "In `request`, --json means \"send -d as JSON and set Content-Type\" (C), not \"print JSON\". We "
    "pass it on every call: with a body it is required, without one we assume it is harmless, and "
    "if a version treats it as the output flag it asks for the JSON we parse anyway.")
REPEATED_QUERY_KEYS = _assume(
    "REPEATED_QUERY_KEYS", "forwarded", "?",
    "ClickTime lists need IsActive=true&IsActive=false. We assume repeated `--query IsActive=...` "
    "flags reach ClickTime as repeated parameters. If the CLI folds them into an object, the last one "
    "wins and lists silently lose records: `reconciler doctor` checks this (count(true)+count(false) "
    "must equal count(both)).")
PATH_BELOW_API_ROOT = _assume(
    "PATH_BELOW_API_ROOT", "", "I",
    "The ClickTime connector's base URL is https://api.clicktime.com/v2 (ClickTime's API root, C), so "
    "proxy paths are the client's paths (/Jobs, /Me). If the connector's base lacks /v2, set "
    "MEMBRANE_CLICKTIME_PATH_PREFIX=/v2 (doctor suggests it when GET /Me answers 404).")

# ---------------------------------------------------------------------------------------------
# `membrane request`: output
# ---------------------------------------------------------------------------------------------
REQUEST_OUTPUT_SHAPES = _assume(
    "REQUEST_OUTPUT_SHAPES", ("bare", "wrapped", "output"), "?",
    "The proxy returns ClickTime's status, headers and body unchanged (C); what the CLI prints is "
    "undocumented. Accepted: `bare` = ClickTime's body as JSON (most likely: the SDK returns the "
    "response data); `wrapped` = {\"status\", \"headers\", \"data\"} (an axios-style response, e.g. with "
    "--rawData); `output` = {\"output\": body} (the shape `action run` prints). Pretty-printed or "
    "compact, with or without banner lines before it.")
RESPONSE_WRAPPER_KEYS = _assume(
    "RESPONSE_WRAPPER_KEYS", {"status": ("status", "statusCode"), "body": ("data", "body"), "headers": ("headers",)},
    "?", "Field names of the `wrapped` shape: axios uses status/headers/data; fetch-like code body/statusCode. "
    "A ClickTime body never has an integer `status` next to `data` (its envelope is data/page/errors/meta).")
SUCCESS_STATUS_WHEN_UNKNOWN = _assume(
    "SUCCESS_STATUS_WHEN_UNKNOWN", 200, "I",
    "The bare shape hides the status; exit code 0 and a non-error body are taken as 200 (the client "
    "accepts any 2xx).")
EMPTY_OUTPUT_MEANS = _assume(
    "EMPTY_OUTPUT_MEANS", {"DELETE": 204}, "I",
    "ClickTime answers a DELETE with no body (presumably 204), which the CLI prints as nothing. Empty "
    "output for any other method is treated as a lost answer (the reference: treat empty stdout as failure).")
ERROR_DATA_FIELDS = _assume(
    "ERROR_DATA_FIELDS", ("type", "key", "message", "data", "causedByError"), "C",
    "Membrane's error body (docs /reference/overview/errors; SDK ErrorData).")
HTTP_ERROR_DATA = _assume(
    "HTTP_ERROR_DATA", "data.response = {status, data, headers}", "I",
    "CLI 1.1.12 imports extractMembraneErrorData, which adds data.request {url, method} and "
    "data.response {status, data, headers} for HTTP errors. So a ClickTime 4xx/5xx through `request` is "
    "assumed to print that ErrorData, on stdout or stderr, with a non-zero exit.")
HTTP_ERROR_TYPE = _assume(
    "HTTP_ERROR_TYPE", "dependency_error", "?",
    "The `type` such an HTTP error carries is unknown; the parser ignores it when data.response.status is there.")
ERROR_STREAMS = _assume(
    "ERROR_STREAMS", ("stderr", "stdout"), "?",
    "Where errors are printed and with which exit code is undocumented: both streams are read; any "
    "non-zero exit, or an ErrorData/{error} object on stdout, is a failure.")
ERROR_WRAPPERS = _assume(
    "ERROR_WRAPPERS", ("type+message", "error"), "I",
    "ErrorData is {type, message, ...} (C). Wrappers seen in neighbouring tools: {\"error\": ErrorData} and "
    "{\"error\": \"text\", \"message\": \"text\"}; all are accepted.")
BANNER_EXAMPLE = _assume(
    "BANNER_EXAMPLE", f"Update available: {PINNED_CLI_VERSION} -> 1.19.0. Run npm i -g {CLI_PACKAGE}", "I",
    "Ink/warnings may leak non-JSON lines before the JSON (reference 6.3): the parser skips them.")
ANSI_ESCAPE = _assume(
    "ANSI_ESCAPE", re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]"), "I", "Colour or cursor codes from ink, stripped.")

# Membrane error keys -> what they mean for us. Keys and their HTTP statuses are documented (C).
ERROR_STATUS_BY_KEY = _assume(
    "ERROR_STATUS_BY_KEY", {"bad_request": 400, "not_authenticated": 401, "access_denied": 403, "not_found": 404,
                            "already_exists": 409, "rate_limit_exceeded": 429, "internal": 500}, "C",
    "docs /reference/overview/errors (already_exists -> 409 is I).")
RATE_LIMIT_KEYS = _assume(
    "RATE_LIMIT_KEYS", ("rate_limit_exceeded",), "C",
    "Key of both the bad_request type (Membrane's own limits) and the connection type (ClickTime's, via actions).")
REAUTH_KEYS = _assume(
    "REAUTH_KEYS", ("connection_is_defunct", "access_token_expired", "CONNECTION_DISCONNECTED"), "C",
    "connection key enum (C); CONNECTION_DISCONNECTED appears as `code` in official skill code (I).")
RETRYABLE_TYPES = _assume(
    "RETRYABLE_TYPES", ("internal", "concurrency", "dependency_error"), "I",
    "Errors of these types (without an HTTP answer from ClickTime) are treated like a 5xx: retried for "
    "idempotent requests, an unknown outcome for creates (never blindly repeated).")
DISCONNECTED_ERROR = _assume(
    "DISCONNECTED_ERROR", {"type": "connection", "key": "connection_is_defunct",
                           "message": "Connection is disconnected. Reconnect it to continue."}, "?",
    "What a request through a disconnected connection returns is not documented; the key exists (C).")
NOT_LOGGED_IN_ERROR = _assume(
    "NOT_LOGGED_IN_ERROR", {"type": "bad_request", "key": "not_authenticated",
                            "message": "You are not logged in. Run `membrane login --tenant`."}, "?",
    "How the CLI reports a missing login is undocumented; the error key exists (C).")
CONNECTION_NOT_FOUND_ERROR = _assume(
    "CONNECTION_NOT_FOUND_ERROR", {"type": "bad_request", "key": "not_found", "message": "Connection not found"}, "I",
    "A not_found ErrorData without an HTTP answer from ClickTime means Membrane did not find the connection.")
DISCONNECTED_STATUS = _assume(
    "DISCONNECTED_STATUS", 400, "?",
    "HTTP status of the API's connection error; docs: bad_request-type errors default to 400.")

# ---------------------------------------------------------------------------------------------
# The REST API (membrane-api backend)
# ---------------------------------------------------------------------------------------------
DEFAULT_API_URL = _assume(
    "DEFAULT_API_URL", "https://api.getmembrane.com", "C",
    "SDK DEFAULT_API_URI; the legacy host https://api.integration.app still appears in docs examples.")
API_VERSION = _assume(
    "API_VERSION", "2025-10-21", "C",
    "SDK LATEST_API_VERSION, sent as `membrane-api-version`; without it the server uses \"legacy\".")
API_VERSION_HEADER = _assume(
    "API_VERSION_HEADER", "membrane-api-version", "C", "Seen on every request the SDK sent to a loopback mock.")
PROXY_PATH = _assume(
    "PROXY_PATH", "/connections/{connection}/proxy{path}", "C",
    "SDK traffic: GET /connections/c1/proxy/Jobs?limit=10; docs API Proxy: status, headers and body unchanged.")
CONNECTIONS_PATH = _assume(
    "CONNECTIONS_PATH", "/connections", "C", "GET /connections answers {items, cursor?} (SDK FindConnectionsResponse).")
TOKEN_ENV = _assume(
    "TOKEN_ENV", "MEMBRANE_TOKEN", "C",
    "The variable the official self-integration skill uses for the Bearer token (not read by the SDK loader).")
WORKSPACE_ENV = _assume(
    "WORKSPACE_ENV", ("MEMBRANE_WORKSPACE_KEY", "MEMBRANE_WORKSPACE_SECRET"), "C",
    "Read by the SDK's MembraneConfigLoader (and CLI 1.0.1 README); used to mint tokens as the SDK does.")
TENANT_ENV = _assume(
    "TENANT_ENV", "MEMBRANE_TENANT_KEY", "I",
    "Used in official examples for application code, not documented as CLI configuration.")
API_URL_ENV = _assume(
    "API_URL_ENV", ("MEMBRANE_API_URL", "MEMBRANE_API_URI"), "C",
    "MEMBRANE_API_URI is the SDK loader's; MEMBRANE_API_URL is the official examples' (and our settings').")
JWT_CLAIMS = _assume(
    "JWT_CLAIMS", ("workspaceKey", "tenantKey", "iss", "id", "exp"), "C",
    "HS256 signed with the workspace secret. Docs payload {workspaceKey, tenantKey?, exp}; the SDK mints "
    "{id: tenantKey, iss: workspaceKey, exp}. We send the union; that the server accepts the union is I.")
REQUEST_TIME_LIMIT = _assume(
    "REQUEST_TIME_LIMIT", 60.0, "C",
    "Membrane's documents: a request may take up to 60 seconds; connectors retry upstream 429s with "
    "backoff until then. Clients wait longer than this, or a slow answer becomes an unknown outcome.")
JWT_LIFETIME = _assume("JWT_LIFETIME", 3600, "C", "The SDK mints tokens valid for an hour (exp = now + 3600).")
UPSTREAM_429 = _assume(
    "UPSTREAM_429", "raw 429 with ClickTime's body and Retry-After", "I",
    "The proxy returns the vendor's status, headers and body unchanged, except for one automatic "
    "credential refresh (C); so ClickTime's 429 arrives as such.")
UPSTREAM_401_MEANS_REAUTH = _assume(
    "UPSTREAM_401_MEANS_REAUTH", True, "I",
    "Membrane retries once with refreshed credentials before passing a 401 on (C), so a 401 with "
    "ClickTime's body means the connection's ClickTime token no longer works: reconnect.")
