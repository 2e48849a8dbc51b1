"""JSON Schema checks with messages that say where and what, in the user's words."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs, and none declared among the dependencies
from jsonschema import Draft202012Validator, FormatChecker

from reconciler.config.yamlfile import LocatedDocument
from reconciler.errors import Problem


def load_schema(name: str) -> dict[str, Any]:
    """A schema from the installed package, or from the source tree's schemas/ when not installed."""
    try:
        text = resources.files("reconciler.schemas").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        text = (Path(__file__).resolve().parents[2] / "schemas" / name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@cache
def fast_validator(name: str) -> Callable[[Any], Any] | None:
    """The same schema compiled to Python by fastjsonschema (about 10x faster), or None.

    It only answers "valid or not"; the messages always come from jsonschema. fastjsonschema
    speaks draft-07, which covers every keyword these schemas use."""
    try:
        import fastjsonschema
    except ImportError:  # pragma: no cover - a declared dependency, but the slow path still works
        return None
    schema = {**load_schema(name), "$schema": "http://json-schema.org/draft-07/schema#"}
    return fastjsonschema.compile(schema, formats={"date": _is_date})


def _is_date(value: Any) -> bool:
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def is_valid_fast(data: Any, schema_name: str) -> bool:
    fast = fast_validator(schema_name)
    if fast is None:
        return False
    try:
        fast(data)
    except Exception:  # fastjsonschema.JsonSchemaException: let jsonschema explain it
        return False
    return True


def check_document(document: LocatedDocument, schema_name: str) -> list[Problem]:
    # JSON Schema cannot refuse NaN (every comparison with it is false, so `minimum` and
    # `maximum` let it through) nor tell infinity from a number: such values are found here.
    nonfinite = _nonfinite_paths(document.data) if document.nonfinite else []
    if not nonfinite and is_valid_fast(document.data, schema_name):
        return []
    problems = [Problem(document.where(path), f"{_field_name(path)}: expected a finite number, "
                                              f"got {document.raw(path) or _plain_text(value)}")
                for path, value in nonfinite]
    refused = {path for path, _ in nonfinite}
    errors = list(validator(schema_name).iter_errors(document.data))
    # A date not even in YYYY-MM-DD form is reported as that, not also as an impossible date.
    malformed = {tuple(e.absolute_path) for e in errors if e.validator == "pattern" and "format" in e.schema}
    for error in errors:
        path = tuple(error.absolute_path)
        if (error.validator == "format" and path in malformed) or path in refused:
            continue
        problems.extend(_explain(error, document))
    return problems


def _nonfinite_paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], float]]:
    if isinstance(data, float) and not math.isfinite(data):
        return [(path, data)]
    if isinstance(data, dict):
        return [found for key, value in data.items() for found in _nonfinite_paths(value, (*path, key))]
    if isinstance(data, list):
        return [found for index, value in enumerate(data) for found in _nonfinite_paths(value, (*path, index))]
    return []


def _field_name(path: tuple[Any, ...]) -> str:
    named = [step for step in path if not isinstance(step, int)]  # a list entry speaks for its list
    return str(named[-1]) if named else "file"


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_EXPECTED = {"string": "text", "boolean": "true or false", "object": "a mapping", "array": "a list",
             "number": "a number", "integer": "a whole number", "null": "nothing"}


def _explain(error: jsonschema.ValidationError, doc: LocatedDocument) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    field = _field_name(path)
    kind = error.validator
    if "errorMessage" in error.schema:  # a value refused for a reason the schema states
        yield Problem(doc.where(path), f"{field}: {error.schema['errorMessage']}")
        return
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for extra in sorted(set(error.instance) - set(allowed)):
            hint = difflib.get_close_matches(extra, allowed, n=1, cutoff=0.6)
            what = "section" if not path else "field"
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known {what}s: {', '.join(allowed)})"
            yield Problem(doc.where((*path, extra), key=True), f"unknown {what} '{extra}'{suggestion}")
        return
    if _is_key_error(error):
        # propertyNames: the offending key itself is the instance; point at the key.
        key = str(error.instance)
        yield Problem(doc.where((*path, key), key=True), _key_message(kind, key, error))
        return
    where = doc.where(path)
    if kind == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        names = " or ".join(_EXPECTED.get(str(t), str(t)) for t in expected if t != "null") or "nothing"
        raw = doc.raw(path) if doc.text is not None and doc.is_plain(path) else None
        got = _type_name(error.instance)
        if raw is not None and "(" in got and not isinstance(error.instance, str):
            got = got[:got.index("(")] + f"({raw})"  # as written: YAML may have read 0123 as 83
        if not path:  # a file that is not a mapping is not configuration: never quote what it holds
            got, raw = got.split(" (")[0], None
        message = f"{field}: expected {names}, got {got}"
        if "string" in expected and error.instance is not None and raw is not None:
            message += f"; quote it to keep it as text: '{raw}'"
        yield Problem(where, message)
    elif kind == "maxLength":
        yield Problem(where, f"{field}: {len(error.instance)} characters, at most {error.validator_value} allowed")
    elif kind == "minLength":
        yield Problem(where, f"{field}: must not be empty")
    elif kind == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        yield Problem(where, f"{field}: {error.instance!r} is not one of: {options}")
    elif kind == "const":
        yield Problem(where, f"{field}: must be {json.dumps(error.validator_value)} when given")
    elif kind == "format" and error.validator_value == "date":
        yield Problem(where, f"{field}: {error.instance!r} is not a valid date")
    elif kind == "pattern" and "date" in str(error.schema.get("format", "")):
        yield Problem(where, f"{field}: {error.instance!r} is not a date in YYYY-MM-DD form")
    elif kind == "pattern" and "@" in str(error.validator_value):
        yield Problem(where, f"{field}: {error.instance!r} is not a valid email address")
    elif kind == "anyOf":
        specific = [e for e in error.context if e.validator != "type"] or list(error.context)
        yield from _explain(specific[0], doc) if specific else iter([Problem(where, f"{field}: {error.message}")])
    else:
        yield Problem(where, f"{field}: {error.message}")


def _is_key_error(error: jsonschema.ValidationError) -> bool:
    return "propertyNames" in error.absolute_schema_path


def _key_message(kind: str, key: str, error: jsonschema.ValidationError) -> str:
    if kind == "maxLength":
        return f"key '{key}': {len(key)} characters, at most {error.validator_value} allowed"
    if kind == "minLength":
        return "key must not be empty"
    if kind == "pattern" and "@" in str(error.validator_value):
        return f"key '{key}' is not a valid email address"
    return f"key '{key}': {error.message}"


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def suggest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
