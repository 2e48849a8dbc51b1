"""YAML loading that remembers where every key and value came from, and rejects duplicate keys.

PyYAML keeps the last of two equal keys without a word; here that is an error. Mapping keys are
always taken as written (JobNumber `007` stays "007", not 7). Timestamps stay text, so a date
reaches the schema exactly as typed. libyaml's C parser is used when it is installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import os
import re
from typing import Mapping

import yaml

from reconciler.errors import Location, Problem

try:  # libyaml is several times faster on large configurations
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[Any, ...]
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
STR_TAG = "tag:yaml.org,2002:str"
# ${VAR} or ${VAR:-default}; $${ is a literal ${
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LocatedDocument:
    """A parsed file: its data plus the location of each key and value, by path."""

    path: str
    data: Any
    key_locations: dict[Path_, Location] = field(default_factory=dict)
    value_locations: dict[Path_, Location] = field(default_factory=dict)
    # paths of scalars written plain (unquoted), for "quote it" hints on type errors
    plain_scalars: set[Path_] = field(default_factory=set)
    # character spans of scalar and list values, recorded only when asked (for edits)
    spans: dict[Path_, tuple[int, int]] | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # for ${VAR} substitution

    def where(self, path: Path_, key: bool = False) -> Location:
        """The location of a path, or of its nearest ancestor that has one."""
        table = self.key_locations if key else self.value_locations
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if not key and probe in self.key_locations:
                return self.key_locations[probe]
            probe = probe[:-1]
        return self.value_locations.get((), Location(self.path, 1, 1))


def _location(display: str, node: yaml.Node) -> Location:
    return Location(display, node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, display: str, spans: bool = False,
              env: Mapping[str, str] | None = None) -> tuple[LocatedDocument | None, list[Problem]]:
    """Parse one file. Returns (document, problems); document is None on a syntax error.
    With `spans`, also record where each scalar and list value starts and ends."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display)
        problem = error.problem or str(error)
        context = f" ({error.context})" if error.context else ""
        return None, [Problem(where, f"YAML syntax error: {problem}{context}")]
    except yaml.YAMLError as error:
        return None, [Problem(Location(display), f"YAML error: {error}")]
    finally:
        loader.dispose()
    document = LocatedDocument(display, None, spans={} if spans else None)
    document.env = os.environ if env is None else env
    problems: list[Problem] = []
    if node is not None:
        document.value_locations[()] = _location(display, node)
        document.data = _build(node, (), document, problems, loader)
    return document, problems


def _build(node: yaml.Node, path: Path_, doc: LocatedDocument, problems: list[Problem], loader: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(_location(doc.path, key_node), "YAML merge keys (<<) are not supported"))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(_location(doc.path, key_node), "a mapping key must be a plain value"))
                continue
            key = key_node.value
            key_where = _location(doc.path, key_node)
            if key in first_seen:
                first = first_seen[key]
                problems.append(Problem(key_where, f"duplicate key '{key}' (first defined at line {first.line})"))
                continue
            first_seen[key] = key_where
            child = (*path, key)
            doc.key_locations[child] = key_where
            doc.value_locations[child] = _location(doc.path, value_node)
            result[key] = _build(value_node, child, doc, problems, loader)
        return result
    if doc.spans is not None and not isinstance(node, yaml.MappingNode):
        doc.spans[path] = (node.start_mark.index, node.end_mark.index)
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            doc.value_locations[child] = _location(doc.path, item_node)
            items.append(_build(item_node, child, doc, problems, loader))
        return items
    if node.tag == TIMESTAMP_TAG:
        return node.value
    if not node.style:  # None (pure-Python parser) or "" (libyaml) means plain
        doc.plain_scalars.add(path)
    if node.tag == STR_TAG and "$" in node.value:
        return _substitute(node, path, doc, problems)
    return loader.construct_object(node, deep=True)


def _substitute(node: yaml.ScalarNode, path: Path_, doc: LocatedDocument, problems: list[Problem]) -> Any:
    """Replace ${VAR} and ${VAR:-default} from the environment. A plain scalar that is one
    variable alone takes the type its value reads as (${BILLABLE:-true} is a boolean)."""
    missing: list[str] = []

    def value_of(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in doc.env:
            return doc.env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    text = VARIABLE.sub(value_of, node.value)
    for name in missing:
        problems.append(Problem(_location(doc.path, node), f"environment variable {name} is not set "
                                                           f"(give a default with ${{{name}:-value}})"))
    if missing:
        return node.value  # as written: the problem above is the one to report
    whole = VARIABLE.fullmatch(node.value)
    if whole and whole.group(0) != "$$" and not node.style and text:
        typed = yaml.safe_load(text)
        if isinstance(typed, (bool, int, float)) or typed is None:
            return typed
    return text


def read_yaml_file(path: Path, display: str) -> tuple[LocatedDocument | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(Location(display), f"not valid UTF-8 text ({error.reason} at byte {error.start})")]
    except OSError as error:
        return None, [Problem(Location(display), f"cannot read file: {error.strerror}")]
    return load_yaml(text, display)
