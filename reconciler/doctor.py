"""`reconciler doctor`: check a backend end to end and say what is wrong and how to fix it.

Backend-specific preflight checks (a binary on PATH, a login, a connection) come first; then the
checks every backend shares, made through the same ClickTime client.
"""

from __future__ import annotations

from reconciler.backends import BACKENDS, BackendOptions, open_client
from reconciler.clicktime.checks import Check, account_checks
from reconciler.errors import ReconcilerError


def run_doctor(options: BackendOptions) -> list[Check]:
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
    finally:
        client.close()
    return checks
