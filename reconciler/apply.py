"""Execute a plan through the ClickTime client: in dependency waves, each wave concurrently.

Waves follow the plan's order: clients, tasks and users; then jobs (which reference them); then
assignments; then deactivations and deletes, children before parents. Changes to one object stay
in order within their wave. A failure lets the wave's other writes finish, then stops.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from reconciler.clicktime.client import ClickTimeClient
from reconciler.errors import ApiError, ApplyError, ApplyOutcome, BackendError
from reconciler.model import ASSIGNMENTS, FIELD_BY_YAML, KEY_FIELDS, KINDS, Key, Kind, LiveState, yaml_to_api_value
from reconciler.plan import Change, Plan

TEARDOWN = ("deactivate", "delete")


def wave_of(change: Change) -> int:
    if change.target is not None:
        return 2
    if change.action in TEARDOWN:
        return {Kind.JOB: 3, Kind.USER: 4, Kind.TASK: 4, Kind.CLIENT: 5}[change.kind]
    return 1 if change.kind is Kind.JOB else 0


def waves(changes: list[Change]) -> list[list[list[Change]]]:
    """Waves of groups; a group is one object's changes, applied in order."""
    by_wave: dict[int, dict[tuple[Kind, Key, str | None, Key | None], list[Change]]] = {}
    for change in changes:
        group = (change.kind, change.key, change.list_name, change.target)
        by_wave.setdefault(wave_of(change), {}).setdefault(group, []).append(change)
    return [list(by_wave[w].values()) for w in sorted(by_wave)]


class Applier:
    def __init__(self, client: ClickTimeClient, live: LiveState,
                 on_applied: Callable[[Change], None] = lambda change: None) -> None:
        self.client = client
        self.live = live
        self.on_applied = on_applied
        self.ids: dict[Kind, dict[Key, str]] = {
            kind: {key: obj.id for key, obj in live.objects[kind].items()} for kind in KINDS
        }
        self._lock = threading.Lock()

    def apply(self, plan: Plan) -> ApplyOutcome:
        outcome = ApplyOutcome()
        errors: list[str] = []

        def run_group(group: list[Change]) -> None:
            for change in group:
                try:
                    self._apply_one(change)
                except (BackendError, KeyError) as error:
                    detail = ("; ".join(error.messages) + f" (HTTP {error.status} from {error.method} {error.path})"
                              if isinstance(error, ApiError) else str(error.args[0] if error.args else error))
                    with self._lock:
                        outcome.failed.append(change.label)
                        errors.append(f"{change.label} failed: {detail}")
                    return
                with self._lock:
                    outcome.applied.append(change.label)
                    self.on_applied(change)

        with ThreadPoolExecutor(max_workers=self.client.concurrency) as pool:
            for wave in waves(plan.changes):
                list(pool.map(run_group, wave))
                if errors:
                    more = f" (and {len(errors) - 1} more failure(s))" if len(errors) > 1 else ""
                    raise ApplyError("\n".join(sorted(errors)) if more else errors[0], outcome)
        return outcome

    def _id(self, kind: Kind, key: Key) -> str:
        with self._lock:
            found = self.ids[kind].get(key)
        if found is None:
            raise KeyError(f"{kind.value} '{'/'.join(key)}' does not exist in the account")
        return found

    def _apply_one(self, change: Change) -> None:
        kind = change.kind
        if change.action == "create":
            body = {**self._key_body(kind, change.key), **self._fields_body(change)}
            created = self.client.create(kind.collection, body)
            with self._lock:
                self.ids[kind][change.key] = created["ID"]
        elif change.action in ("update", "reactivate", "deactivate"):
            self.client.update(kind.collection, self._id(kind, change.key), self._fields_body(change))
        elif change.action == "delete":
            self.client.delete(kind.collection, self._id(kind, change.key))
        elif change.action in ("assign", "unassign"):
            assert change.list_name and change.target is not None
            target_kind, sub = ASSIGNMENTS[change.list_name]
            job_id, target_id = self._id(Kind.JOB, change.key), self._id(target_kind, change.target)
            if change.action == "assign":
                self.client.assign(job_id, sub, target_id)
            else:
                self.client.unassign(job_id, sub, target_id)
        else:  # pragma: no cover - Plan.from_json only builds known actions
            raise ValueError(f"unknown action {change.action}")

    def _key_body(self, kind: Kind, key: Key) -> dict[str, Any]:
        if kind is Kind.JOB:
            return {"ClientID": self._id(Kind.CLIENT, key[:1]), "JobNumber": key[1]}
        return {KEY_FIELDS[kind][0]: key[0]}

    def _fields_body(self, change: Change) -> dict[str, Any]:
        body: dict[str, Any] = {}
        live = self.live.objects[change.kind].get(change.key)
        for name, field_change in change.fields.items():
            spec = FIELD_BY_YAML[change.kind][name]
            value = yaml_to_api_value(spec, field_change.new, lambda email: self._id(Kind.USER, (email,)))
            if spec.api == "CustomFields" and live is not None:
                # Send the whole map: whether ClickTime merges a partial one is not documented.
                value = {**(live.record.get("CustomFields") or {}), **value}
            body[spec.api] = value
        return body
