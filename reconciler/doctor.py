"""`reconciler doctor`: check a backend end to end and say what is wrong and how to fix it.

Backend-specific preflight checks (a binary on PATH, a login, a connection) come first, from
PREFLIGHT; then the checks every backend shares, made through the same ClickTime client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.backends import BackendOptions, open_client
from reconciler.clicktime import assumptions, membrane_api, membrane_cli
from reconciler.errors import ReconcilerError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


# Backend name -> checks to run before a client can be opened (filled in by backends that need them).
PREFLIGHT: dict[str, Callable[[BackendOptions], list[Check]]] = {
    "membrane": membrane_cli.preflight,
    "membrane-api": membrane_api.preflight,
}


def run_doctor(options: BackendOptions, backend: str) -> list[Check]:
    checks = [Check("backend", True, backend)]
    preflight = PREFLIGHT.get(backend)
    if preflight is not None:
        checks += preflight(options)
        if not all(c.ok for c in checks):
            return checks
    try:
        client = open_client(backend, options)
    except ReconcilerError as error:
        return checks + [Check("connect", False, str(error))]
    try:
        checks += account_checks(client)
    finally:
        client.close()
    return checks


def account_checks(client: object) -> list[Check]:
    from reconciler.clicktime.client import ClickTimeClient

    assert isinstance(client, ClickTimeClient)
    checks: list[Check] = []
    try:
        me = client.me()
    except ReconcilerError as error:
        return [Check("token user (GET /Me)", False, str(error),
                      "check the API token or the connection's credentials")]
    level = str(me.get("SecurityLevel", "unknown"))
    checks.append(Check("token user (GET /Me)", level == "ADMIN", f"{me.get('Name')} <{me.get('Email')}>, "
                        f"security level {level}",
                        None if level == "ADMIN" else "use an Administrator's token: only administrators may "
                                                      "delete and set security levels"))
    try:
        company = client.company()
    except ReconcilerError as error:
        return checks + [Check("company settings (GET /Company)", False, str(error))]
    for sub, (setting, wanted) in assumptions.ASSIGNMENT_REQUIRES.items():
        actual = company.get(setting)
        checks.append(Check(f"job {sub.lower()} assignments", actual == wanted, f"{setting} is {actual!r}",
                            None if actual == wanted else
                            f"managing job {sub.lower()} needs {setting}={wanted!r} (Company Preferences > list "
                            "controls); without it, leave the jobs' tasks/users lists out of the configuration"))
    return checks
