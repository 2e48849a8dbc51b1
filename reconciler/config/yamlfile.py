"""YAML loading that remembers where every key and value came from, and rejects duplicate keys.

PyYAML keeps the last of two equal keys without a word; here that is an error. Mapping keys are
always taken as written (JobNumber `007` stays "007", not 7). Timestamps stay text, so a date
reaches the schema exactly as typed. libyaml's C parser is used when it is installed.

Locations are not copied out for every value: the document keeps its text, and when a message
needs a location it parses the text again (once) and looks the path up in the node tree. Loading
a large configuration thus costs little more than parsing it, and holds only the data in memory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from reconciler.errors import Location, Problem

try:  # libyaml is several times faster on large configurations
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[Any, ...]
TAG = "tag:yaml.org,2002:"
TIMESTAMP_TAG, STR_TAG, MERGE_TAG = TAG + "timestamp", TAG + "str", TAG + "merge"
# ${VAR} or ${VAR:-default}; $$ is a literal $
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LocatedDocument:
    """A parsed file: its data, and where each key and value came from (looked up by path).

    `key_locations`/`value_locations` hold explicit locations for documents that were not
    parsed from YAML (a CSV row, say); otherwise the node tree answers."""

    path: str
    data: Any
    text: str | None = None  # the source, for looking locations up; None for non-YAML documents
    key_locations: dict[Path_, Location] = field(default_factory=dict)
    value_locations: dict[Path_, Location] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # for ${VAR} substitution
    _indexes: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = field(default_factory=dict, repr=False)
    _root: yaml.Node | None = field(default=None, repr=False)
    # key locations of entries up to three levels deep (sections, objects, jobs), recorded while
    # parsing, because every object's own location is needed; deeper ones are looked up on demand
    shallow_keys: dict[Path_, Location] = field(default_factory=dict, repr=False)

    @property
    def root(self) -> yaml.Node | None:
        if self._root is None and self.text is not None:
            loader = _Loader(self.text)
            try:
                self._root = loader.get_single_node()
            finally:
                loader.dispose()
        return self._root

    def _children(self, node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        index = self._indexes.get(id(node))
        if index is None:
            index = {}
            for key_node, value_node in node.value:
                index.setdefault(str(key_node.value), (key_node, value_node))
            self._indexes[id(node)] = index
        return index

    def _walk(self, path: Path_) -> tuple[int, yaml.Node | None, yaml.Node | None]:
        """(how many steps of path exist, the key node of the last step, the node reached)."""
        node, key_node, depth = self.root, None, 0
        for step in path:
            if isinstance(node, yaml.MappingNode) and str(step) in self._children(node):
                key_node, node = self._children(node)[str(step)]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                key_node, node = None, node.value[step]
            else:
                break
            depth += 1
        return depth, key_node, node

    def where(self, path: Path_, key: bool = False) -> Location:
        """The location of a path's value (or key), or of its nearest ancestor that exists."""
        path = tuple(path)
        if key and path in self.shallow_keys:
            return self.shallow_keys[path]
        if self.text is None:
            table = self.key_locations if key else self.value_locations
            probe = path
            while probe:
                if probe in table:
                    return table[probe]
                if not key and probe in self.key_locations:
                    return self.key_locations[probe]
                probe = probe[:-1]
            return self.value_locations.get((), Location(self.path, 1, 1))
        _, key_node, node = self._walk(path)
        chosen = key_node if key and key_node is not None else node
        return _location(self.path, chosen) if chosen is not None else Location(self.path, 1, 1)

    def is_plain(self, path: Path_) -> bool:
        """Whether the scalar at path was written without quotes."""
        depth, _, node = self._walk(tuple(path))
        return depth == len(path) and isinstance(node, yaml.ScalarNode) and not node.style

    def raw(self, path: Path_) -> str | None:
        """The scalar at path as written in the file (before YAML typed it)."""
        depth, _, node = self._walk(tuple(path))
        return node.value if depth == len(path) and isinstance(node, yaml.ScalarNode) else None

    def span(self, path: Path_) -> tuple[int, int] | None:
        """Character offsets of the scalar or list at path (for in-place edits)."""
        depth, _, node = self._walk(tuple(path))
        if depth != len(path) or node is None or isinstance(node, yaml.MappingNode):
            return None
        return node.start_mark.index, node.end_mark.index


def _explain_syntax_error(error: yaml.MarkedYAMLError, text: str, display: str) -> tuple[Location, str]:
    mark = error.problem_mark or error.context_mark
    where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display)
    problem = error.problem or str(error)
    if mark is not None and "cannot start any token" in problem and text[mark.index:mark.index + 1] == "\t":
        return where, "YAML syntax error: found a tab character; YAML is indented with spaces only"
    context = error.context or ""
    if context.startswith("while") and error.context_mark is not None and error.context_mark is not mark:
        context += f" started at line {error.context_mark.line + 1}, column {error.context_mark.column + 1}"
    return where, f"YAML syntax error: {problem}" + (f" ({context})" if context else "")


def _location(display: str, node: yaml.Node) -> Location:
    return Location(display, node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, display: str, env: Mapping[str, str] | None = None
              ) -> tuple[LocatedDocument | None, list[Problem]]:
    """Parse one file. Returns (document, problems); document is None on a syntax error."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        return None, [Problem(*_explain_syntax_error(error, text, display))]
    except yaml.YAMLError as error:
        return None, [Problem(Location(display), f"YAML error: {error}")]
    finally:
        loader.dispose()
    document = LocatedDocument(display, None, text=text, env=os.environ if env is None else env)
    problems: list[Problem] = []
    if node is not None:
        document.data = _Builder(document, problems).build(node)
    return document, problems


_SCALARS: dict[str, Callable[[Any, yaml.ScalarNode], Any]] = {
    TAG + "null": SafeConstructor.construct_yaml_null,
    TAG + "bool": SafeConstructor.construct_yaml_bool,
    TAG + "int": SafeConstructor.construct_yaml_int,
    TAG + "float": SafeConstructor.construct_yaml_float,
}


class _Builder:
    """Node tree -> plain Python data; the checks a YAML loader skips happen here."""

    def __init__(self, doc: LocatedDocument, problems: list[Problem]) -> None:
        self.doc = doc
        self.problems = problems
        self.constructor = SafeConstructor()

    def build(self, node: yaml.Node, path: Path_ = ()) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            shallow = self.doc.shallow_keys if len(path) < 3 else None
            for key_node, value_node in node.value:
                if key_node.tag == MERGE_TAG:
                    self.problems.append(Problem(_location(self.doc.path, key_node),
                                                 "YAML merge keys (<<) are not supported"))
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(Problem(_location(self.doc.path, key_node),
                                                 "a mapping key must be a plain value"))
                    continue
                key = key_node.value
                if key in result:
                    first = next(k for k, _ in node.value if k.value == key)
                    self.problems.append(Problem(_location(self.doc.path, key_node),
                                                 f"duplicate key '{key}' (first defined at line "
                                                 f"{first.start_mark.line + 1})"))
                    continue
                if shallow is not None:
                    child = (*path, key)
                    shallow[child] = _location(self.doc.path, key_node)
                    result[key] = self.build(value_node, child)
                else:
                    result[key] = self.build(value_node, path)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path) for item in node.value]
        tag = node.tag
        if tag == STR_TAG:
            return self._substitute(node) if "$" in node.value else node.value
        if tag == TIMESTAMP_TAG:
            return node.value
        construct = _SCALARS.get(tag)
        if construct is not None:
            return construct(self.constructor, node)
        return self.constructor.construct_object(node, deep=True)

    def _substitute(self, node: yaml.ScalarNode) -> Any:
        """Replace ${VAR} and ${VAR:-default} from the environment. A plain scalar that is one
        variable alone takes the type its value reads as (${BILLABLE:-true} is a boolean)."""
        missing: list[str] = []
        env = self.doc.env

        def value_of(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        text = VARIABLE.sub(value_of, node.value)
        for name in missing:
            self.problems.append(Problem(_location(self.doc.path, node), f"environment variable {name} is not set "
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
        before = error.object[:error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        return None, [Problem(Location(display, line, column), f"not valid UTF-8 text ({error.reason})")]
    except OSError as error:
        return None, [Problem(Location(display), f"cannot read file: {error.strerror}")]
    return load_yaml(text, display)
