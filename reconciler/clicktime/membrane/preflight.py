"""`reconciler doctor` for the Membrane backends: binary, version, login, connection, query forwarding."""

from __future__ import annotations

import shlex
from typing import Any

from reconciler.clicktime.checks import Check
from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.membrane.api import CONNECT_HINT, MembraneApi, MembraneApiTransport, api_url, token_source
from reconciler.clicktime.membrane.cli import (
    PATH_PREFIX_ENV,
    MembraneCliTransport,
    list_connections,
    make_runner,
    parse_version,
    path_prefix,
    resolve_command,
)
from reconciler.clicktime.membrane.connections import (
    choose_connection,
    connection_problem,
    describe,
    find_connection,
    is_clicktime,
)
from reconciler.clicktime.membrane.errors import MembraneError, MembraneLoginError
from reconciler.clicktime.membrane.protocol import first_line
from reconciler.clicktime.transport import Transport, TransportError
from reconciler.errors import ApiError, ReconcilerError


def query_forwarding_check(transport: Transport) -> Check:
    """Whether repeated query parameters reach ClickTime as such, and that lists answer with
    ClickTime's page.count at all (a wrong base path or a foreign proxy fails here)."""
    name = "repeated query parameters"
    client = ClickTimeClient(transport, concurrency=1)

    def count(*values: str) -> int:
        body = client.request("GET", "/Tasks", [*(("IsActive", v) for v in values), ("limit", "1"), ("offset", "0")])
        return int(((body or {}).get("page") or {})["count"])

    try:
        active, inactive, both = count("true"), count("false"), count("true", "false")
    except ApiError as error:
        fix = None
        if error.status == 404:
            fix = (f"the connector's base URL may not include ClickTime's /v2: try {PATH_PREFIX_ENV}=/v2")
        return Check(name, False, f"GET /Tasks through Membrane failed: {error}", fix)
    except (KeyError, TypeError, ValueError):
        return Check(name, False, "GET /Tasks through Membrane gave no page.count",
                     f"the proxy's answer is not ClickTime's; check the connection, or {PATH_PREFIX_ENV}")
    except ReconcilerError as error:
        return Check(name, False, str(error), getattr(error, "fix", None))
    detail = f"tasks: {active} active + {inactive} inactive, {both} with both filters"
    if both != active + inactive:  # the tool never repeats a key, so this is for the record only
        return Check(name, True, detail + ": folded on the way (Membrane passes the query as a string record); "
                                          "lists read active and inactive records apart, so nothing is missed")
    return Check(name, True, detail)


def _fail(name: str, error: MembraneError | str, fix: str | None = None) -> Check:
    if isinstance(error, MembraneError):  # one line per check: candidate lists joined
        return Check(name, False, error.detail.replace(":\n  - ", ": ").replace("\n  - ", "; "), error.fix or fix)
    return Check(name, False, error, fix)


def connection_checks(connections: list[dict[str, Any]], wanted: str | None, source: str,
                      connect_hint: str = MA.CONNECT_COMMAND) -> tuple[list[Check], str | None]:
    """The connection check shared by both Membrane backends: (checks, usable connection ID)."""
    name = "ClickTime connection"
    if wanted is None:
        try:
            chosen = choose_connection(connections, connect_hint)
        except MembraneError as error:
            return [_fail(name, error)], None
        return [Check(name, True, f"{describe(chosen)} (the only ready ClickTime connection)")], str(chosen["id"])
    found = find_connection(connections, wanted)
    if found is None:
        listing = ", ".join(describe(c) for c in connections if is_clicktime(c)) or "none"
        return [Check(name, False, f"{wanted} (from {source}) is not among the connections Membrane lists "
                                   f"(ClickTime connections: {listing})",
                      f"use the ID of a ClickTime connection, or connect ClickTime: `{connect_hint}`")], None
    problem = connection_problem(found)
    if problem is not None:
        return [Check(name, False, f"{describe(found)} (from {source})",
                      f"reconnect it: `{MA.RECONNECT_COMMAND.format(id=found.get('id'))}`")], None
    return [Check(name, True, f"{describe(found)} (from {source})")], str(found["id"])


def cli_preflight(binary: str | None, connection: str | None, connection_source: str, timeout: float) -> list[Check]:
    """Binary, version, login, connection state, and that lists reach ClickTime whole."""
    checks: list[Check] = []
    try:
        command, source = resolve_command(binary)
    except MembraneError as error:
        return [_fail("membrane CLI", error)]
    checks.append(Check("membrane CLI", True, f"{shlex.join(command)} (from {source})"))
    runner = make_runner(command, timeout)
    try:
        result = runner.run(["--version"])
    except (MembraneError, TransportError) as error:
        return checks + [_fail("membrane CLI version", str(error), MA.INSTALL_HINT)]
    version = parse_version(result)
    if result.returncode != 0 or version is None:
        said = first_line(result.stdout) or first_line(result.stderr) or "no output"
        return checks + [Check("membrane CLI version", False,
                               f"`{command[0]} --version` answered {said!r} (exit {result.returncode}): "
                               "this is not Membrane's CLI",
                               f"{MA.INSTALL_HINT}, or set MEMBRANE_BIN to Membrane's CLI")]
    shown = ".".join(map(str, version))
    if version[:2] < MA.MIN_CLI_VERSION:
        return checks + [Check("membrane CLI version", False, f"{shown} is too old for `membrane request`",
                               f"`npm install -g {MA.CLI_PACKAGE}@{MA.PINNED_CLI_VERSION}`")]
    checks.append(Check("membrane CLI version", True, shown))
    try:
        connections = list_connections(runner)
    except MembraneError as error:
        name = "membrane login" if isinstance(error, MembraneLoginError) else "membrane connection list"
        return checks + [_fail(name, error)]
    checks.append(Check("membrane login", True, f"logged in; {len(connections)} connection(s) visible"))
    found, connection_id = connection_checks(connections, connection, connection_source)
    checks += found
    if connection_id is None:
        return checks
    checks.append(query_forwarding_check(MembraneCliTransport(runner, connection_id, path_prefix())))
    return checks


def api_preflight(configured_url: str | None, connection: str | None, connection_source: str,
                  timeout: float) -> list[Check]:
    """Credentials, the API's answer, the connection's state, and that lists reach ClickTime whole."""
    try:
        tokens = token_source()
        url = api_url(configured_url)
    except MembraneError as error:
        return [Check("Membrane credentials", False, error.detail, error.fix)]
    checks = [Check("Membrane credentials", True, tokens.description)]
    api = MembraneApi(url, tokens, timeout=timeout)
    try:
        try:
            connections = api.connections()
        except MembraneError as error:
            name = "Membrane login" if isinstance(error, MembraneLoginError) else "Membrane API"
            return [*checks, Check(name, False, error.detail, error.fix)]
        checks.append(Check("Membrane API", True, f"{api.base_url}: {len(connections)} connection(s) visible"))
        found, connection_id = connection_checks(connections, connection, connection_source, CONNECT_HINT)
        checks += found
        if connection_id is not None:
            checks.append(query_forwarding_check(MembraneApiTransport(api, connection_id, path_prefix())))
        return checks
    finally:
        api.close()
