"""The shipped compiled schemas (`reconciler/config/compiled_schemas.py`) are those of today's
schemas/, and answer "valid or not" exactly as jsonschema does on every configuration file the
project holds: the examples, the invalid corpus, and mutations of a valid file."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from conftest import REPO

from reconciler.config import compiled_schemas
from reconciler.config.schema import SCHEMAS, fast_validator, schema_digest, validator


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_compiled_module_matches_the_schema(name: str) -> None:
    digest, _ = compiled_schemas.VALIDATORS[name]
    assert digest == schema_digest(name), f"{name} changed: run `python -m reconciler.config.schema`"
    assert fast_validator(name) is not None


def test_a_changed_schema_is_never_checked_by_a_stale_compiled_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_validator.cache_clear()
    monkeypatch.setitem(compiled_schemas.VALIDATORS, "config.schema.json", ("0" * 64, lambda *_, **__: None))
    try:
        assert fast_validator("config.schema.json") is None  # jsonschema then checks everything
    finally:
        fast_validator.cache_clear()


def documents() -> Iterator[tuple[str, str, Any]]:
    files = sorted((REPO / "examples").rglob("*.yaml")) + sorted((REPO / "tests" / "corpus").rglob("*.yaml"))
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError, ValueError):
            continue  # unreadable, or not YAML at all: the schema never sees it
        schema = "settings.schema.json" if path.name == "reconciler.yaml" else "config.schema.json"
        yield str(path.relative_to(REPO)), schema, data


def mutations(data: dict[str, Any]) -> Iterator[Any]:
    """Each field of each object replaced by values of the wrong type, shape or form."""
    wrong: list[Any] = [None, 5, 1.5, True, "", "x" * 51, "not-a-date", "2025-02-30", [], {}, ["a"]]
    for section, objects in data.items():
        if not isinstance(objects, dict):
            continue
        for key, fields in objects.items():
            if not isinstance(fields, dict):
                continue
            for field in [*fields, "unknown_field"]:
                for value in wrong:
                    changed = copy.deepcopy(data)
                    changed[section][key][field] = value
                    yield changed
        yield {**data, section: {"": {}}}
        yield {**data, section: [1]}


def agree(schema: str, data: Any) -> tuple[bool, bool]:
    fast = fast_validator(schema)
    assert fast is not None
    try:
        fast(data)
        fast_says = True
    except ValueError:
        fast_says = False
    return fast_says, not any(validator(schema).iter_errors(data))


def test_compiled_and_jsonschema_agree_on_every_file_and_mutation() -> None:
    checked = 0
    for where, schema, data in documents():
        fast_says, slow_says = agree(schema, data)
        assert fast_says == slow_says, where
        checked += 1
        if schema == "config.schema.json" and isinstance(data, dict) and slow_says:
            for changed in mutations(data):
                fast_says, slow_says = agree(schema, changed)
                assert fast_says == slow_says, (where, changed)
                checked += 1
    assert checked > 500
