"""Membrane connections: which one is ClickTime's, whether it is ready, and choosing one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.membrane.errors import MembraneError, MembraneReauthError


def connection_items(value: Any) -> list[dict[str, Any]] | None:
    """The connections in `connection list --json` output or GET /connections: list or {items}."""
    if isinstance(value, dict):
        for key in ("items", "connections", "output", "data"):
            if key in value:
                return connection_items(value[key])
        return None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def is_clicktime(connection: Mapping[str, Any]) -> bool:
    integration = _mapping(connection.get("integration"))
    connector = _mapping(connection.get("connector"))
    texts = [connection.get("integrationKey"), connection.get("connectorKey"), integration.get("key"),
             integration.get("name"), connector.get("key"), connector.get("name"), connection.get("name"),
             connection.get("key")]
    return any(marker in str(text).lower() for text in texts if text for marker in MA.CLICKTIME_MARKERS)


def connection_problem(connection: Mapping[str, Any]) -> str | None:
    """Why the connection cannot be used now, or None when it is ready."""
    if connection.get("archivedAt"):
        return "archived"
    if connection.get("disconnected") or connection.get("isDefunct"):
        return "disconnected: needs re-authentication"
    state = connection.get("state")
    if state and state != MA.CONNECTION_STATE_READY:
        action = connection.get("clientAction") if isinstance(connection.get("clientAction"), dict) else {}
        return f"state {state}" + (f" ({action.get('description') or action.get('type')})" if action else "")
    return None


def describe(connection: Mapping[str, Any]) -> str:
    name = connection.get("name") or (connection.get("integration") or {}).get("name") or "unnamed"
    return f"{connection.get('id')} ({name}): {connection_problem(connection) or 'ready'}"


def find_connection(connections: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    return next((c for c in connections if wanted in (c.get("id"), c.get("key"))), None)


def choose_connection(connections: list[dict[str, Any]], connect_hint: str = MA.CONNECT_COMMAND) -> dict[str, Any]:
    """The one ready ClickTime connection; otherwise an error that lists the candidates."""
    clicktime = [c for c in connections if is_clicktime(c)]
    ready = [c for c in clicktime if connection_problem(c) is None]
    if len(ready) == 1:
        return ready[0]
    choose = ("choose one with --connection ID, MEMBRANE_CONNECTION_ID, or `membrane: {connection: ID}` in "
              "reconciler.yaml")
    if not clicktime:
        others = "".join(f"\n  - {describe(c)}" for c in connections) or " none"
        raise MembraneError(f"Membrane has no ClickTime connection (connections:{others})",
                            f"connect ClickTime: `{connect_hint}`; then {choose}")
    listing = "".join(f"\n  - {describe(c)}" for c in clicktime)
    if not ready:
        first = clicktime[0].get("id")
        raise MembraneReauthError(f"no ClickTime connection is ready:{listing}",
                                  f"reconnect it: `{MA.RECONNECT_COMMAND.format(id=first)}`")
    raise MembraneError(f"{len(ready)} ClickTime connections are ready:{listing}", choose)
