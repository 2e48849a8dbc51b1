"""Saved plans: the one JSON form of a plan (plan files, `--format json`, journals), read back
strictly, and checked against the account before `apply --plan` carries it out.

Object references are written as `kind:part/part#list`, each part percent-escaped, so that a key
holding `/`, `#`, `:` or `%` round-trips exactly (a ShortName `A/B` is never read as client `A`).
"""

from __future__ import annotations

import json
import math
import os
import string
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from reconciler.errors import PlanRefused, ReconcilerError
from reconciler.model import ASSIGNMENTS, FIELD_BY_YAML, KINDS, Key, Kind, LiveState, format_key
from reconciler.plan import (
    Action,
    Change,
    FieldChange,
    KindHeader,
    ObjectRef,
    Plan,
    TouchedRef,
    touched_fingerprints,
)

PLAN_FORMAT_VERSION = 2
_SAFE = " !$&'()*+,;=@[]^_`{|}~-."  # kept as written; `/`, `#`, `:` and `%` are escaped


class UnreadablePlan(ReconcilerError):
    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: not a plan this version can read ({problem}); make a new plan")


def format_key_part(part: str) -> str:
    return quote(part, safe=_SAFE + "".join(chr(c) for c in range(0x80, 0x100)))


def format_ref(kind: Kind, key: Key, list_name: str | None = None) -> str:
    text = f"{kind.value}:" + "/".join(format_key_part(p) for p in key)
    return f"{text}#{list_name}" if list_name else text


def parse_ref(text: str) -> TouchedRef:
    kind_text, sep, rest = text.partition(":")
    if not sep:
        raise ValueError(f"object reference {text!r} has no kind")
    kind = Kind(kind_text)
    key_text, _, list_name = rest.partition("#")
    key = tuple(unquote(part) for part in key_text.split("/"))
    if len(key) != (2 if kind is Kind.JOB else 1) or not all(key):
        raise ValueError(f"object reference {text!r} is not a {kind.value} key")
    if list_name and (kind is not Kind.JOB or list_name not in ASSIGNMENTS):
        raise ValueError(f"object reference {text!r} names an unknown list")
    return TouchedRef(kind, key, list_name or None)


def _key_json(key: Key) -> list[str]:
    return list(key)


def _key_from_json(kind: Kind, value: Any) -> Key:
    if not isinstance(value, list) or len(value) != (2 if kind is Kind.JOB else 1) or not all(
            isinstance(p, str) and p for p in value):
        raise ValueError(f"{value!r} is not a {kind.value} key")
    return tuple(value)


def change_to_json(change: Change) -> dict[str, Any]:
    data: dict[str, Any] = {
        "action": change.action.value,
        "kind": change.kind.value,
        "key": format_key(change.key),  # for people; `key_parts` is what is read back
        "key_parts": _key_json(change.key),
        "fields": {name: {"old": c.old, "new": c.new} for name, c in change.fields.items()},
    }
    if change.target is not None:
        data["list"] = change.list_name
        data["target"] = format_key(change.target)
        data["target_parts"] = _key_json(change.target)
    if change.notes:
        data["notes"] = list(change.notes)
    if change.cascade:
        data["cascade"] = change.cascade
    return data


def change_from_json(data: Mapping[str, Any]) -> Change:
    action, kind = Action(data["action"]), Kind(data["kind"])
    key = _key_from_json(kind, data["key_parts"])
    fields_data = data.get("fields", {})
    if not isinstance(fields_data, dict):
        raise ValueError("fields is not an object")
    list_name = data.get("list")
    target = None
    if action in (Action.ASSIGN, Action.UNASSIGN):
        if kind is not Kind.JOB or list_name not in ASSIGNMENTS:
            raise ValueError(f"{action} names an unknown list {list_name!r}")
        target = _key_from_json(ASSIGNMENTS[list_name][0], data["target_parts"])
        known_fields: set[str] = {list_name}
    else:
        if list_name is not None:
            raise ValueError(f"{action} names a list")
        known_fields = set(FIELD_BY_YAML[kind])
    unknown = sorted(set(fields_data) - known_fields)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} for {kind.value}")
    fields = {n: FieldChange(v["old"], v["new"]) for n, v in fields_data.items()}
    notes = data.get("notes", ())
    if not isinstance(notes, list | tuple) or not all(isinstance(n, str) for n in notes):
        raise ValueError("notes is not a list of texts")
    cascade = data.get("cascade", 0)
    if not isinstance(cascade, int) or isinstance(cascade, bool) or cascade < 0:
        raise ValueError("cascade is not a count")
    return Change(action, kind, key, fields, list_name=list_name, target=target, notes=tuple(notes), cascade=cascade)


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "backend": plan.backend,
        "config_checksum": plan.config_checksum,
        "partial": list(plan.partial),
        "commit": plan.commit,
        "policy": {
            kind.section: {"prune": h.policy, "live": h.live, "active": h.active, "left_alone": h.left_alone,
                           "protect": list(h.protect), "protected_skipped": h.protected_skipped,
                           "ignore_fields": list(h.ignore_fields)}
            for kind, h in plan.kinds.items()
        },
        "changes": [change_to_json(c) for c in plan.changes],
        "summary": plan.summary(),
        "warnings": list(plan.warnings),
        "fingerprints": {format_ref(r.kind, r.key, r.list_name): v for r, v in plan.fingerprints.items()},
        "ids": {format_ref(kind, key): value for (kind, key), value in plan.ids.items()},
    }


def plan_from_json(data: Any, source: str = "plan") -> Plan:
    """A plan as saved; anything this version does not know is refused, never guessed."""
    if not isinstance(data, dict):
        raise UnreadablePlan(source, "not a JSON object")
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise UnreadablePlan(source, f"format version {data.get('format_version')!r}, this version reads "
                                     f"{PLAN_FORMAT_VERSION}")
    try:
        kinds = {kind: _header(h) for kind in KINDS if (h := data["policy"].get(kind.section))}
        changes = tuple(change_from_json(c) for c in data["changes"])
        fingerprints = {parse_ref(k): str(v) for k, v in dict(data.get("fingerprints", {})).items()}
        ids: dict[ObjectRef, str] = {}
        for text, value in dict(data.get("ids", {})).items():
            ref = parse_ref(text)
            if ref.list_name or not _is_id(value):
                raise ValueError(f"ids: {text} is not an object with an ID")
            ids[(ref.kind, ref.key)] = value
        return Plan(changes=changes, backend=str(data["backend"]), kinds=kinds,
                    warnings=tuple(str(w) for w in data.get("warnings", [])), fingerprints=fingerprints,
                    config_checksum=str(data.get("config_checksum", "")), ids=ids,
                    partial=tuple(str(p) for p in data.get("partial", [])), commit=_commit(data.get("commit", "")))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UnreadablePlan(source, f"{type(error).__name__}: {error}") from None


def _commit(value: Any) -> str:
    """A git commit name (hex), or "" in plans made without `--commit` or before it existed."""
    if not isinstance(value, str) or (value and not (7 <= len(value) <= 64 and all(c in string.hexdigits
                                                                                     for c in value))):
        raise ValueError(f"commit {value!r} is not a git commit name")
    return value.lower()


def _is_id(value: Any) -> bool:
    """ClickTime IDs are opaque tokens: nothing that could move a request to another path."""
    return isinstance(value, str) and bool(value) and all(c.isalnum() or c in "-_" for c in value)


def _header(data: Mapping[str, Any]) -> KindHeader:
    numbers = [data["live"], data.get("active", data["live"]), data["left_alone"], data.get("protected_skipped", 0)]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        raise ValueError("policy counts are not counts")
    if data["prune"] not in ("ignore", "deactivate"):
        raise ValueError(f"unknown prune policy {data['prune']!r}")
    return KindHeader(data["prune"], data["live"], data["left_alone"], tuple(data.get("protect", ())),
                      data.get("protected_skipped", 0), tuple(data.get("ignore_fields", ())),
                      data.get("active", data["live"]))


def save_plan(plan: Plan, path: Path) -> None:
    write_atomically(path, json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False) + "\n")


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`: a run killed
    meanwhile leaves the old file or the new one whole, never half a plan or half a comment. The
    file is its owner's only (mode 600): plans and comments hold account data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_plan(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ReconcilerError(f"{path}: cannot read the plan file ({type(error).__name__})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:
        raise UnreadablePlan(str(path), f"not JSON: {error}") from None
    return plan_from_json(data, str(path))


def _refuse_constant(name: str) -> float:
    if name in ("NaN", "Infinity", "-Infinity"):
        raise ValueError(f"{name} is not a value a plan holds")
    return math.nan  # pragma: no cover - json passes only the three names above


def check_against_live(saved: Plan, live: LiveState, label: str) -> None:
    """Refuse a saved plan when an object it touches changed since it was made."""
    current = touched_fingerprints(saved.changes, live)
    drifted = sorted(format_ref(r.kind, r.key, r.list_name) for r, v in saved.fingerprints.items()
                     if current.get(r) != v)
    untracked = [c.label for c in saved.changes if TouchedRef(c.kind, c.key, c.list_name if c.target else None)
                 not in saved.fingerprints]
    if untracked:
        raise PlanRefused(f"{label}: changes without a fingerprint of what they touch: {', '.join(untracked[:5])}; "
                          "make a new plan")
    if drifted:
        raise PlanRefused(f"{label}: the account changed since the plan was made; these objects differ: "
                          f"{', '.join(drifted)}. Make a new plan.")
