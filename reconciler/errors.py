"""One exception root for everything the tool reports to its user.

    ReconcilerError                 anything the command line turns into a message and exit code 1
    ├── ConfigError                 the configuration is invalid: carries every Problem found
    ├── BackendError                the backend could not be reached or set up
    │   ├── ApiError                ClickTime (or the emulator) answered with an HTTP error status
    │   ├── RequestFailed           no HTTP answer came back, even after retries
    │   │   └── ServiceDown         several in a row: nothing more is sent (a circuit breaker)
    │   └── MalformedAnswer         an answer outside ClickTime's documented envelope
    │       └── IncompleteFetchError a list came back shorter than its page.count says
    ├── PlanRefused                 a saved plan no longer matches the account or configuration
    └── ApplyError                  a write failed; carries what was applied before it
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.secrets import scrub


@dataclass(frozen=True, order=True)
class Location:
    """Where something was declared: a file and a 1-based line and column."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.path
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Problem:
    where: Location
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ReconcilerError(Exception):
    """Root of every error the tool reports without a traceback."""


class ConfigError(ReconcilerError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class BackendError(ReconcilerError):
    pass


class ApiError(BackendError):
    """An error answer. `messages` are ClickTime's `errors[].Message` texts."""

    def __init__(self, status: int, method: str, path: str, messages: list[str]) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.messages = messages or [f"HTTP {status}"]
        super().__init__(f"{method} {path}: HTTP {status}: {'; '.join(self.messages)}")


class RequestFailed(BackendError):
    """No HTTP status to report: the request found no server, or every retry failed."""

    def __init__(self, method: str, path: str, reason: str) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        super().__init__(f"{method} {path}: {reason}")


class ServiceDown(RequestFailed):
    """The service stopped answering: nothing more is sent in this run."""

    def __init__(self, method: str, path: str, why: str) -> None:
        super().__init__(method, path, f"not sent: the service looks gone ({why}); check the network and the API "
                                       "address, then run again (an interrupted apply resumes with --resume)")


class MalformedAnswer(BackendError):
    """An answer that is not ClickTime's: never read as an empty list. Quotes the start of the body."""

    def __init__(self, backend: str, method: str, path: str, problem: str, body: object) -> None:
        self.backend = backend
        self.method = method
        self.path = path
        shown = "" if body is None else f"; the answer began: {_preview(body)}"
        super().__init__(f"{backend}: {method} {path}: {problem}{shown}")


class IncompleteFetchError(MalformedAnswer):
    def __init__(self, backend: str, method: str, path: str, problem: str) -> None:
        super().__init__(backend, method, path, f"incomplete list: {problem}", None)


def _preview(body: object, limit: int = 200) -> str:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    text = scrub(text)
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


class PlanRefused(ReconcilerError):
    pass


@dataclass
class ApplyOutcome:
    """What an apply did, change by change: labels, and for failures and skips the reason."""

    applied: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


class ApplyError(ReconcilerError):
    def __init__(self, message: str, outcome: ApplyOutcome, cause: Any = None) -> None:
        self.outcome = outcome
        self.cause = cause
        super().__init__(message)
