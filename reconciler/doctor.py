"""`reconciler doctor`: check a backend end to end and say what is wrong and how to fix it.

Backend-specific preflight checks (a binary on PATH, a login, a connection) come first; then the
checks every backend shares, made through the same ClickTime client.
"""

from __future__ import annotations

from reconciler.backends import BACKENDS, BackendOptions, open_client
from reconciler.clicktime import assumptions
from reconciler.clicktime.checks import Check, account_checks
from reconciler.clicktime.client import ClickTimeClient
from reconciler.config.desired import Configuration
from reconciler.errors import ReconcilerError
from reconciler.model import ASSIGNMENTS, Kind
from reconciler.rules import assignment_lists_allowed, closed_gates, kind_unavailable


def run_doctor(options: BackendOptions, config: Configuration | None = None) -> list[Check]:
    checks = [Check("backend", True, options.backend)]
    preflight = BACKENDS[options.backend].preflight
    if preflight is not None:
        checks += preflight(options)
        if not all(c.ok for c in checks):
            return checks
    try:
        client = open_client(options)
    except ReconcilerError as error:
        return [*checks, Check("connect", False, str(error))]
    try:
        checks += account_checks(client)
        if config is not None:
            checks += needs_checks(client, config)
    finally:
        client.close()
    return checks


def needs_checks(client: ClickTimeClient, config: Configuration) -> list[Check]:
    """What the configuration uses that the account's settings refuse, with the setting to change."""
    company = client.company()
    desired = config.desired.objects
    found = []
    allowed = assignment_lists_allowed(company)
    for list_name, ok in allowed.items():
        if not ok and any(list_name in job.assignments for job in desired[Kind.JOB].values()):
            setting, wanted = assumptions.ASSIGNMENT_REQUIRES[ASSIGNMENTS[list_name][1]]
            found.append(Check(f"configuration: job {list_name}", False, f"declared, but Company.{setting} is "
                               f"{company.get(setting)!r}",
                               f"set {setting} to {wanted!r} in ClickTime (list controls)"))
    for gate in closed_gates(company):
        users = [o for o in desired[gate.kind].values() if gate.field in o.fields]
        if users:
            found.append(Check(f"configuration: {gate.kind.value} {gate.field}", False,
                               f"declared on {len(users)} {gate.kind.section}", gate.reason))
    reason = kind_unavailable(Kind.DIVISION, company)
    if reason and desired[Kind.DIVISION]:
        found.append(Check("configuration: divisions", False, f"{len(desired[Kind.DIVISION])} declared", reason))
    return found or [Check("configuration", True, "the account's settings allow everything it declares")]
