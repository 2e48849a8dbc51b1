"""The README's field table and the schema agree with the field table in model.py."""

from __future__ import annotations

from conftest import REPO

from reconciler.config.schema import load_schema
from reconciler.model import FIELDS


def test_readme_documents_every_field() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [f"{kind.value}.{spec.yaml}" for kind, specs in FIELDS.items() for spec in specs
               if f"| {kind.value} | `{spec.yaml}` | `{spec.api}` |" not in readme]
    assert missing == []


def test_schema_and_model_declare_the_same_fields() -> None:
    defs = load_schema("config.schema.json")["$defs"]
    for kind, specs in FIELDS.items():
        schema_fields = set(defs[kind.value]["properties"]) - {"absent", "tasks", "users", "template"}
        assert schema_fields == {spec.yaml for spec in specs}, kind
