"""Membrane's failures as the project's errors, each with the command that fixes it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from reconciler.clicktime.membrane import assumptions as MA
from reconciler.errors import BackendError
from reconciler.secrets import scrub

HEADLESS_LOGIN = ("on a machine without a browser: `membrane login --tenant --non-interactive`, open the URL it "
                  "prints, then `membrane login complete <code>`")


class MembraneError(BackendError):
    """Membrane could not carry the request; the message says how to fix it."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        self.detail = message
        self.fix = fix
        super().__init__(f"{message}; fix: {fix}" if fix else message)


class MembraneLoginError(MembraneError):
    """The CLI is not logged in, or Membrane rejected the API token."""


class MembraneReauthError(MembraneError):
    """The ClickTime connection needs re-authentication."""


class NotMembraneCli(MembraneError):
    """The binary does not answer like Membrane's CLI."""


@dataclass(frozen=True)
class ErrorContext:
    """What error messages need to say: which connection, and how to log in again."""

    connection_id: str
    login_fix: str = f"run `{MA.LOGIN_COMMAND}` ({HEADLESS_LOGIN})"
    connections_hint: str = "`membrane connection list --json` lists them"

    def reconnect(self) -> str:
        return f"reconnect it: `{MA.RECONNECT_COMMAND.format(id=self.connection_id)}`"


class MembraneOutputError(MembraneError):
    """Membrane answered in a shape this version does not know: never read as an empty answer."""

    def __init__(self, value: object) -> None:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        text = scrub(text)
        shown = text[:200] + ("..." if len(text) > 200 else "")
        super().__init__(f"Membrane answered in a shape this version cannot read (neither ClickTime's "
                         f"{{data, page}} envelope nor a known Membrane wrapper); it began: {shown!r}",
                         "run `reconciler doctor --probe` and attach its --record cassette to a bug report")
