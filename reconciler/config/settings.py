"""Settings from reconciler.yaml: backend, prune policies, API knobs, protect, ignore_fields, thresholds."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from reconciler.model import KINDS, Key, Kind, format_key

SETTINGS_FILE = "reconciler.yaml"
PRUNE_POLICIES = ("ignore", "deactivate")


@dataclass(frozen=True)
class Settings:
    backend: str | None = None
    prune: dict[Kind, str] = field(default_factory=lambda: {k: "ignore" for k in KINDS})
    api: dict[str, float] = field(default_factory=dict)  # rate_limit, concurrency, timeout
    membrane: dict[str, str] = field(default_factory=dict)  # connection (binary and API URL: environment only)
    protect: dict[Kind, tuple[str, ...]] = field(default_factory=dict)  # glob patterns over natural keys
    ignore_fields: dict[Kind, frozenset[str]] = field(default_factory=dict)
    thresholds: dict[Kind, Threshold] = field(default_factory=dict)

    def threshold(self, kind: Kind) -> Threshold:
        return self.thresholds.get(kind, Threshold())

    def protected(self, kind: Kind, key: Key) -> bool:
        text = format_key(key)
        return any(fnmatch.fnmatchcase(text, pattern) or (kind is Kind.USER and fnmatch.fnmatchcase(
            text, pattern.lower())) for pattern in self.protect.get(kind, ()))


@dataclass(frozen=True)
class Threshold:
    """octoDNS-style guard rail: refuse to remove or update more than a share of a kind at once."""

    remove_percent: float = 10.0
    update_percent: float = 30.0
    min_objects: int = 10
