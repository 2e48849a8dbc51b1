"""The pure core without any backend: diff, plan order, saved-plan round trips and refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.config.desired import Configuration
from reconciler.config.settings import Settings
from reconciler.diff import build_plan
from reconciler.errors import Location
from reconciler.live import build_live_state
from reconciler.model import KINDS, DesiredObject, DesiredState, Key, Kind, LiveState
from reconciler.plan import Action, Change, FieldChange, Plan
from reconciler.planfile import (
    UnreadablePlan, format_ref, load_plan, parse_ref, plan_from_json, plan_to_json, save_plan,
)

HERE = Location("test.yaml", 1, 1)
COMPANY = {"JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob", "BillableSetting": "Job"}


def desired(*objects: DesiredObject) -> DesiredState:
    state = DesiredState()
    for obj in objects:
        state.objects[obj.kind][obj.key] = obj
    return state


def config(state: DesiredState, settings: Settings | None = None) -> Configuration:
    return Configuration(Path("."), settings or Settings(), state, [], "checksum", ["test.yaml"])


def live(records: dict[Kind, list[dict[str, Any]]]) -> LiveState:
    return build_live_state(records, COMPANY, {"ID": "me"})


def obj(kind: Kind, key: Key, **fields: Any) -> DesiredObject:
    return DesiredObject(kind, key, fields, HERE, field_locations={n: HERE for n in fields})


def test_plan_orders_parents_first_and_teardown_children_first() -> None:
    state = desired(obj(Kind.CLIENT, ("NEW",), name="New"), obj(Kind.JOB, ("NEW", "J-1"), name="Job"),
                    obj(Kind.TASK, ("T",), name="Task"))
    account = live({Kind.CLIENT: [{"ID": "c1", "ShortName": "OLD", "Name": "Old", "IsActive": True}],
                    Kind.JOB: [{"ID": "j1", "ClientID": "c1", "JobNumber": "O-1", "Name": "Old job", "IsActive": True}]})
    settings = Settings(prune={**{k: "ignore" for k in KINDS}, Kind.CLIENT: "deactivate", Kind.JOB: "deactivate"})
    plan = build_plan(config(state, settings), account, "test")
    assert [(c.action, c.kind, c.key) for c in plan.changes] == [
        (Action.CREATE, Kind.CLIENT, ("NEW",)), (Action.CREATE, Kind.TASK, ("T",)),
        (Action.CREATE, Kind.JOB, ("NEW", "J-1")),
        (Action.DEACTIVATE, Kind.JOB, ("OLD", "O-1")), (Action.DEACTIVATE, Kind.CLIENT, ("OLD",))]
    assert [c.wave for c in plan.changes] == sorted(c.wave for c in plan.changes)
    assert plan.kinds[Kind.JOB].active == 1


def test_unchanged_account_plans_nothing_and_plan_is_frozen() -> None:
    state = desired(obj(Kind.CLIENT, ("A",), name="Acme"))
    plan = build_plan(config(state), live({Kind.CLIENT: [{"ID": "c1", "ShortName": "A", "Name": "Acme"}]}), "t")
    assert plan.empty and plan.changes == ()
    with pytest.raises(AttributeError):
        plan.backend = "other"  # type: ignore[misc]


def test_client_deactivation_counts_its_cascade() -> None:
    account = live({Kind.CLIENT: [{"ID": "c1", "ShortName": "A", "Name": "A", "IsActive": True}],
                    Kind.JOB: [{"ID": f"j{i}", "ClientID": "c1", "JobNumber": f"J-{i}", "Name": "x", "IsActive": True}
                               for i in range(3)]})
    state = desired(obj(Kind.CLIENT, ("A",), name="A", active=False))
    plan = build_plan(config(state), account, "t")
    (client,) = [c for c in plan.changes if c.kind is Kind.CLIENT]
    assert client.action is Action.DEACTIVATE and client.cascade == 3


@pytest.mark.parametrize("key", [("A/B", "C"), ("A", "B/C"), ("x#y", "1:2"), ("100%", "%2F")])
def test_refs_and_keys_round_trip_exactly(key: Key) -> None:
    assert parse_ref(format_ref(Kind.JOB, key, "tasks")).key == key
    change = Change(Action.CREATE, Kind.JOB, key, {"name": FieldChange(None, "N")})
    plan = Plan((change,), "sandbox", {}, fingerprints={}, ids={(Kind.CLIENT, key[:1]): "c-1"})
    again = plan_from_json(json.loads(json.dumps(plan_to_json(plan))))
    assert again.changes[0].key == key and again.ids == {(Kind.CLIENT, key[:1]): "c-1"}


def saved(**change: Any) -> dict[str, Any]:
    base = {"action": "update", "kind": "client", "key": "A", "key_parts": ["A"],
            "fields": {"name": {"old": "a", "new": "b"}}}
    plan = Plan((), "sandbox", {})
    data = plan_to_json(plan)
    data["changes"] = [{**base, **change}]
    return data


@pytest.mark.parametrize("change, said", [
    ({"action": "explode"}, "explode"),
    ({"fields": {"colour": {"old": 1, "new": 2}}}, "unknown field"),
    ({"action": "assign", "list": "hats", "target_parts": ["x"]}, "unknown list"),
    ({"key_parts": ["A", "B"]}, "not a client key"),
])
def test_a_plan_this_version_cannot_read_is_refused(change: dict[str, Any], said: str) -> None:
    with pytest.raises(UnreadablePlan, match="not a plan this version can read") as error:
        plan_from_json(saved(**change))
    assert said in str(error.value)


def test_ids_that_could_redirect_a_request_are_refused(tmp_path: Path) -> None:
    data = saved()
    data["ids"] = {"client:A": "../../Users/x"}
    with pytest.raises(UnreadablePlan, match="not an object with an ID"):
        plan_from_json(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(saved()).replace('"changes"', '"changes_"'))
    with pytest.raises(UnreadablePlan):
        load_plan(path)


def test_save_and_load(tmp_path: Path) -> None:
    change = Change(Action.DEACTIVATE, Kind.CLIENT, ("A",), {"active": FieldChange(True, False)}, cascade=4)
    plan = Plan((change,), "clicktime", {}, warnings=("w",), config_checksum="abc")
    save_plan(plan, tmp_path / "p.json")
    again = load_plan(tmp_path / "p.json")
    assert again.changes == plan.changes and again.warnings == ("w",) and again.config_checksum == "abc"


def test_a_write_that_fails_midway_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler import planfile

    target = tmp_path / "plan.json"
    planfile.write_atomically(target, "old plan\n")
    assert target.read_text() == "old plan\n" and oct(target.stat().st_mode & 0o777) == "0o600"

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the run is stopped between writing and renaming

    monkeypatch.setattr(planfile.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        planfile.write_atomically(target, "new plan, never whole\n")
    assert target.read_text() == "old plan\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary file left behind
