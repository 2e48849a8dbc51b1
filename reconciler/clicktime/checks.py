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
    lists = ", ".join(f"job {sub.lower()} {'on' if company.get(setting) == wanted else 'off'} ({setting}="
                      f"{company.get(setting)!r})"
                      for sub, (setting, wanted) in assumptions.ASSIGNMENT_REQUIRES.items())
    modules = company.get("OptionalModules")
    shown = ", ".join(sorted(k for k, v in modules.items() if v)) if isinstance(modules, dict) else modules
    checks.append(Check("account profile", True, f"list controls: {lists}; BillableSetting="
                        f"{company.get('BillableSetting')!r}; "
                        f"EnableProjectApprovals={company.get('EnableProjectApprovals')!r}; "
                        f"optional modules: {shown or 'none'}"))
    return checks
