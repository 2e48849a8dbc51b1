"""Execute a plan through the ClickTime client, in the plan's order, stopping at the first failure."""

from __future__ import annotations

from typing import Any, Callable

from reconciler.clicktime.client import ClickTimeClient
from reconciler.errors import ApiError, ApplyError, ApplyOutcome
from reconciler.model import ASSIGNMENTS, FIELD_BY_YAML, KEY_FIELDS, KINDS, Key, Kind, LiveState, yaml_to_api_value
from reconciler.plan import Change, Plan


class Applier:
    def __init__(self, client: ClickTimeClient, live: LiveState,
                 on_applied: Callable[[Change], None] = lambda change: None) -> None:
        self.client = client
        self.live = live
        self.on_applied = on_applied
        self.ids: dict[Kind, dict[Key, str]] = {
            kind: {key: obj.id for key, obj in live.objects[kind].items()} for kind in KINDS
        }

    def apply(self, plan: Plan) -> ApplyOutcome:
        outcome = ApplyOutcome()
        for change in plan.changes:
            try:
                self._apply_one(change)
            except ApiError as error:
                outcome.failed.append(change.label)
                raise ApplyError(f"{change.label} failed: {'; '.join(error.messages)} "
                                 f"(HTTP {error.status} from {error.method} {error.path})", outcome, error)
            except KeyError as error:
                outcome.failed.append(change.label)
                raise ApplyError(f"{change.label} failed: {error.args[0]}", outcome, error)
            outcome.applied.append(change.label)
            self.on_applied(change)
        return outcome

    def _id(self, kind: Kind, key: Key) -> str:
        try:
            return self.ids[kind][key]
        except KeyError:
            raise KeyError(f"{kind.value} '{'/'.join(key)}' does not exist in the account") from None

    def _apply_one(self, change: Change) -> None:
        kind = change.kind
        if change.action == "create":
            body = {**self._key_body(kind, change.key), **self._fields_body(change)}
            created = self.client.create(kind.collection, body)
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
        user_ids = {key[0]: value for key, value in self.ids[Kind.USER].items()}
        body: dict[str, Any] = {}
        live = self.live.objects[change.kind].get(change.key)
        for name, field_change in change.fields.items():
            spec = FIELD_BY_YAML[change.kind][name]
            value = yaml_to_api_value(spec, field_change.new, user_ids)
            if spec.api == "CustomFields" and live is not None:
                # Send the whole map: whether ClickTime merges a partial one is not documented.
                value = {**(live.record.get("CustomFields") or {}), **value}
            body[spec.api] = value
        return body
