"""`reconciler doctor`'s findings, and the checks every backend shares, made through the ClickTime client."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.clicktime import assumptions
from reconciler.clicktime.client import ClickTimeClient
from reconciler.errors import ReconcilerError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def account_checks(client: ClickTimeClient) -> list[Check]:
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
        return [*checks, Check("company settings (GET /Company)", False, str(error))]
    for sub, (setting, wanted) in assumptions.ASSIGNMENT_REQUIRES.items():
        actual = company.get(setting)
        checks.append(Check(f"job {sub.lower()} assignments", actual == wanted, f"{setting} is {actual!r}",
                            None if actual == wanted else
                            f"managing job {sub.lower()} needs {setting}={wanted!r} (Company Preferences > list "
                            "controls); without it, leave the jobs' tasks/users lists out of the configuration"))
    return checks
