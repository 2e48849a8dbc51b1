"""The plan: ordered changes plus what a reviewer must know. Pure data, serialisable, checksummed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.model import KINDS, Key, Kind, format_key, parse_key

ACTIONS = ("create", "update", "reactivate", "deactivate", "delete", "assign", "unassign")
PLAN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class FieldChange:
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    action: str
    kind: Kind
    key: Key
    fields: Mapping[str, FieldChange] = field(default_factory=dict)
    # assign/unassign: which list and which object
    list_name: str | None = None
    target: Key | None = None
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        text = f"{self.action} {self.kind.value} {format_key(self.key)}"
        if self.target is not None:
            text += f" {self.list_name[:-1] if self.list_name else ''} {format_key(self.target)}"
        return text

    @property
    def destructive(self) -> bool:
        return self.action in ("deactivate", "delete", "unassign")

    def fingerprint_key(self) -> str:
        return fingerprint_key(self.kind, self.key, self.list_name)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "kind": self.kind.value,
            "key": format_key(self.key),
            "fields": {name: {"old": c.old, "new": c.new} for name, c in self.fields.items()},
        }
        if self.target is not None:
            data["list"] = self.list_name
            data["target"] = format_key(self.target)
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        kind = Kind(data["kind"])
        list_name = data.get("list")
        target = None
        if data.get("target") is not None:
            target_kind = Kind.TASK if list_name == "tasks" else Kind.USER
            target = parse_key(target_kind, data["target"])
        return cls(
            action=data["action"], kind=kind, key=parse_key(kind, data["key"]),
            fields={n: FieldChange(v["old"], v["new"]) for n, v in data.get("fields", {}).items()},
            list_name=list_name, target=target, notes=tuple(data.get("notes", ())),
        )


def fingerprint_key(kind: Kind, key: Key, list_name: str | None = None) -> str:
    text = f"{kind.value}:{format_key(key)}"
    return f"{text}#{list_name}" if list_name else text


def fingerprint(value: Any) -> str:
    """A short digest of a live record or assignment set; "absent" for what does not exist."""
    if value is None:
        return "absent"
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class KindHeader:
    policy: str
    live: int
    left_alone: int
    protect: tuple[str, ...] = ()
    protected_skipped: int = 0  # changes the configuration asked for but `protect` held back
    ignore_fields: tuple[str, ...] = ()


@dataclass
class Plan:
    changes: list[Change]
    backend: str
    kinds: dict[Kind, KindHeader]
    warnings: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    config_checksum: str = ""
    ids: dict[str, str] = field(default_factory=dict)  # fingerprint key -> live ID of what it refers to

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> dict[str, int]:
        counts = {action: 0 for action in ACTIONS}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "backend": self.backend,
            "config_checksum": self.config_checksum,
            "policy": {
                kind.section: {"prune": h.policy, "live": h.live, "left_alone": h.left_alone,
                               "protect": list(h.protect), "protected_skipped": h.protected_skipped,
                               "ignore_fields": list(h.ignore_fields)}
                for kind, h in self.kinds.items()
            },
            "changes": [c.to_json() for c in self.changes],
            "summary": self.summary(),
            "warnings": self.warnings,
            "fingerprints": self.fingerprints,
            "ids": self.ids,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        if data.get("format_version") != PLAN_FORMAT_VERSION:
            raise ValueError(f"unsupported plan format version {data.get('format_version')!r}")
        kinds = {
            kind: KindHeader(h["prune"], h["live"], h["left_alone"], tuple(h.get("protect", ())),
                             h.get("protected_skipped", 0), tuple(h.get("ignore_fields", ())))
            for kind in KINDS if (h := data["policy"].get(kind.section))
        }
        return cls(
            changes=[Change.from_json(c) for c in data["changes"]],
            backend=data["backend"], kinds=kinds, warnings=list(data.get("warnings", [])),
            fingerprints=dict(data.get("fingerprints", {})), config_checksum=data.get("config_checksum", ""),
            ids=dict(data.get("ids", {})),
        )
