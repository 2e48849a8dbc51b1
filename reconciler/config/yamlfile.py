"""YAML loading that remembers where every key and value came from, and rejects duplicate keys.

PyYAML keeps the last of two equal keys without a word; here that is an error. Mapping keys are
always taken as written (JobNumber `007` stays "007", not 7). Timestamps stay text, so a date
reaches the schema exactly as typed. libyaml's C parser is used when it is installed.

Locations are not copied out for every value: the document keeps its text, and when a message
needs a location it parses the text again (once) and looks the path up in the node tree. Loading
a large configuration thus costs little more than parsing it, and holds only the data in memory.

The text comes from pull requests, so building data from it is bounded: nesting deeper than
MAX_DEPTH, aliases that would copy more than MAX_ALIAS_VALUES values ("billion laughs"), and
environment variables outside VARIABLE_PREFIX are located problems, not exhausted memory, a
RecursionError or a leaked credential.
"""

from __future__ import annotations

import functools
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from reconciler.config.chars import visible
from reconciler.errors import Location, Problem

try:  # libyaml is several times faster on large configurations
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[Any, ...]
TAG = "tag:yaml.org,2002:"
TIMESTAMP_TAG, STR_TAG, MERGE_TAG, FLOAT_TAG = TAG + "timestamp", TAG + "str", TAG + "merge", TAG + "float"
BOOL_TAG, NULL_TAG, SEQ_TAG, MAP_TAG = TAG + "bool", TAG + "null", TAG + "seq", TAG + "map"
# ${VAR} or ${VAR:-default}; $$ is a literal $
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Only these variables may be read: the environment also holds the tool's own credentials.
VARIABLE_PREFIX = "RECONCILER_VAR_"
# A configuration is at most six levels deep (jobs > client > number > custom_fields > name);
# anything far deeper is hostile, and would overflow Python's stack further on.
MAX_DEPTH = 64
# Values aliases may copy in one file: sharing a list of tasks across thousands of jobs fits;
# nine levels of nine-fold aliases (a kilobyte that expands to gigabytes) does not.
MAX_ALIAS_VALUES = 200_000


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
    nonfinite: bool = False  # some number is .nan or .inf: the schema check looks for it
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


class _DataResolving:
    """What the parser that builds data does differently from PyYAML's loader, for speed alone.

    The composer calls three resolver methods for every node: `descend_resolver` and
    `ascend_resolver` keep a path for path resolvers, which no loader here registers, so they do
    nothing; `resolve` gives a plain scalar the tag PyYAML's own rules give it, but tries those
    rules (regular expressions) only for text whose first character can start a non-string, and
    once per distinct text in a file (keys like `name:` repeat thousands of times)."""

    first_characters: frozenset[str] = frozenset()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)  # type: ignore[call-arg]  # the parser's, next in the MRO
        self.plain_tags: dict[str, str] = {}

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        if kind is not yaml.ScalarNode:
            return SEQ_TAG if kind is yaml.SequenceNode else MAP_TAG
        if not implicit[0] or value[:1] not in self.first_characters:
            return STR_TAG
        tag = self.plain_tags.get(value)
        if tag is None:
            tag = self.plain_tags[value] = super().resolve(kind, value, implicit)  # type: ignore[misc]
        return tag



@functools.cache
def _data_loader(base: type[Any]) -> type[Any]:
    """`base` (the parser in use) with _DataResolving's shortcuts; `base` itself when it has
    resolvers the shortcuts do not know (a path resolver, or one that applies to any text)."""
    implicit: dict[Any, Any] = base.yaml_implicit_resolvers
    if base.yaml_path_resolvers or None in implicit:
        return base
    first = frozenset(character for character in implicit if isinstance(character, str))
    return type("_DataLoader", (_DataResolving, base), {"first_characters": first})


def load_yaml(text: str, display: str, env: Mapping[str, str] | None = None
              ) -> tuple[LocatedDocument | None, list[Problem]]:
    """Parse one file. Returns (document, problems); document is None on a syntax error."""
    loader = _data_loader(_Loader)(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        return None, [Problem(*_explain_syntax_error(error, text, display))]
    except yaml.YAMLError as error:
        return None, [Problem(Location(display), f"YAML error: {error}")]
    except RecursionError:  # the pure-Python composer recurses once per level
        return None, [_too_deep(text, display)]
    finally:
        loader.dispose()
    document = LocatedDocument(display, None, text=text, env=os.environ if env is None else env)
    problems: list[Problem] = []
    if node is not None:
        document.data = _Builder(document, problems, aliases="*" in text).build(node)
    return document, problems


def _too_deep(text: str, display: str) -> Problem:
    """Where nesting first goes past MAX_DEPTH, found from the parser's events (no recursion)."""
    depth, where = 0, Location(display, 1, 1)
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH + 1:  # the root collection is level 0
                    mark = event.start_mark
                    if mark is not None:
                        where = Location(display, mark.line + 1, mark.column + 1)
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    return Problem(where, f"nested more than {MAX_DEPTH} levels deep")


_SCALARS: dict[str, Callable[[Any, yaml.ScalarNode], Any]] = {
    TAG + "int": SafeConstructor.construct_yaml_int,
    TAG + "float": SafeConstructor.construct_yaml_float,
}
_BOOLS: dict[str, bool] = SafeConstructor.bool_values


class _Builder:
    """Node tree -> plain Python data; the checks a YAML loader skips happen here.

    Scalars are built inline where collections hold them (most of a configuration is text): a
    call per scalar would cost as much as the rest of building."""

    def __init__(self, doc: LocatedDocument, problems: list[Problem], aliases: bool = False) -> None:
        self.doc = doc
        self.problems = problems
        self.constructor = SafeConstructor()
        # Alias bookkeeping only for text that can hold an alias (`*name`): none on the fast path.
        self.aliases = _Aliases(doc.path, problems) if aliases else None

    def build(self, node: yaml.Node, path: Path_ = (), depth: int = 0) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if depth > MAX_DEPTH:
            self.problems.append(Problem(_location(self.doc.path, node), f"nested more than {MAX_DEPTH} levels deep"))
            return None
        if self.aliases is None:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path, depth)
            return self._mapping(node, path, depth)
        if not self.aliases.enter(node):
            return None
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path, depth)
            return self._mapping(node, path, depth)
        finally:
            self.aliases.leave(node)

    def _sequence(self, node: yaml.Node, path: Path_, depth: int) -> list[Any]:
        result: list[Any] = []
        append = result.append
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                text = item.value
                append(text if item.tag == STR_TAG and "$" not in text else self._scalar(item))
            else:
                append(self.build(item, path, depth + 1))
        return result

    def _mapping(self, node: yaml.Node, path: Path_, depth: int) -> dict[str, Any]:
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
                                             f"duplicate key '{visible(key)}' (first defined at line "
                                             f"{first.start_mark.line + 1})"))
                continue
            child = path
            if shallow is not None:
                child = (*path, key)
                shallow[child] = _location(self.doc.path, key_node)
            if isinstance(value_node, yaml.ScalarNode):
                text = value_node.value
                result[key] = text if value_node.tag == STR_TAG and "$" not in text else self._scalar(value_node)
            else:
                result[key] = self.build(value_node, child, depth + 1)
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag == STR_TAG:
            return self._substitute(node) if "$" in text else text
        if tag == BOOL_TAG:
            return _BOOLS[text.lower()]
        if tag == NULL_TAG:
            return None
        if tag == TIMESTAMP_TAG:
            return text
        construct = _SCALARS.get(tag)
        if construct is None:
            shown = "!!" + tag[len(TAG):] if tag.startswith(TAG) else tag
            self.problems.append(Problem(_location(self.doc.path, node), f"YAML tag {visible(shown)} is not supported"))
            return text
        value = construct(self.constructor, node)
        if tag == FLOAT_TAG and not math.isfinite(value):
            self.doc.nonfinite = True
        return value

    def _substitute(self, node: yaml.ScalarNode) -> Any:
        """Replace ${VAR} and ${VAR:-default} from the environment, for variables named
        VARIABLE_PREFIX* only. A plain scalar that is one variable alone takes the type its
        value reads as (${RECONCILER_VAR_BILLABLE:-true} is a boolean)."""
        missing: list[str] = []
        refused: list[str] = []
        env = self.doc.env

        def value_of(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if not name.startswith(VARIABLE_PREFIX):
                refused.append(name)
                return ""
            if name in env:
                return env[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        text = VARIABLE.sub(value_of, node.value)
        where = _location(self.doc.path, node)
        for name in refused:
            self.problems.append(Problem(where, f"environment variable {name} cannot be used: the configuration may "
                                                f"only read variables whose names start with {VARIABLE_PREFIX}"))
        for name in missing:
            self.problems.append(Problem(where, f"environment variable {name} is not set "
                                                f"(give a default with ${{{name}:-value}})"))
        if missing or refused:
            return node.value  # as written: the problem above is the one to report
        whole = VARIABLE.fullmatch(node.value)
        if whole and whole.group(0) != "$$" and not node.style and text:
            typed = yaml.safe_load(text)
            if isinstance(typed, float) and not math.isfinite(typed):
                self.doc.nonfinite = True
            if isinstance(typed, (bool, int, float)) or typed is None:
                return typed
        return text


class _Aliases:
    """Counts what aliases copy. The composer gives an alias the very node of its anchor, so a
    collection met a second time is an alias; its size (computed once per node) is added up."""

    def __init__(self, display: str, problems: list[Problem]) -> None:
        self.display = display
        self.problems = problems
        self.seen: set[int] = set()
        self.path: list[yaml.Node] = []  # collections being built, outermost first
        self.open: set[int] = set()  # the same, by identity: meeting one again is a cycle
        self.sizes: dict[int, int] = {}
        self.copied = 0
        self.copying = 0  # > 0 while building inside a copy: what it copies is counted already
        self.copies: list[bool] = []  # for each collection in `path`: whether it starts a copy
        self.refused = False

    def enter(self, node: yaml.Node) -> bool:
        ident = id(node)
        # the alias is written in the collection being built; the composer kept no mark of its own
        where = _location(self.display, self.path[-1] if self.path else node)
        if ident in self.open:
            self.problems.append(Problem(where, "YAML alias refers to the value that contains it"))
            return False
        copy = ident in self.seen and not self.copying
        if copy:
            if self.refused:
                return False
            self.copied += self._size(node)
            if self.copied > MAX_ALIAS_VALUES:
                self.refused = True
                self.problems.append(Problem(where, f"YAML aliases expand to more than {MAX_ALIAS_VALUES:,} values; "
                                                    "write the values out or use templates: instead"))
                return False
        self.seen.add(ident)
        self.open.add(ident)
        self.path.append(node)
        self.copies.append(copy)
        self.copying += copy
        return True

    def leave(self, node: yaml.Node) -> None:
        self.open.discard(id(node))
        self.path.pop()
        self.copying -= self.copies.pop()

    def _size(self, root: yaml.Node) -> int:
        """Values under a node, aliases counted as copies; iterative, and a cycle counts as huge."""
        stack: list[tuple[yaml.Node, bool]] = [(root, False)]
        pending: set[int] = set()
        while stack:
            node, done = stack.pop()
            ident = id(node)
            if ident in self.sizes:
                continue
            children = _children_of(node)
            if done:
                pending.discard(ident)
                self.sizes[ident] = 1 + sum(self.sizes[id(child)] for child in children)
                continue
            if ident in pending:
                return MAX_ALIAS_VALUES + 1
            pending.add(ident)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in self.sizes)
        return self.sizes[id(root)]


def _children_of(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a file"


def read_file_bytes(path: Path, display: str) -> tuple[bytes | None, list[Problem]]:
    """A regular file's bytes. Anything else is a problem, never opened for reading: a named
    pipe would wait forever for a writer, a device may never end."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            return None, [Problem(Location(display), f"not a regular file ({_file_type(mode)})")]
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        return None, [Problem(Location(display), f"cannot read file: {error.strerror}")]
    try:
        mode = os.fstat(descriptor).st_mode  # what was opened, should the path have changed since
        if not stat.S_ISREG(mode):
            return None, [Problem(Location(display), f"not a regular file ({_file_type(mode)})")]
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            return file.read(), []
    except OSError as error:
        return None, [Problem(Location(display), f"cannot read file: {error.strerror}")]
    finally:
        os.close(descriptor)


def decode_text(data: bytes, display: str) -> tuple[str | None, list[Problem]]:
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as error:
        before = data[:error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        return None, [Problem(Location(display, line, column), f"not valid UTF-8 text ({error.reason})")]


def read_yaml_file(path: Path, display: str) -> tuple[LocatedDocument | None, list[Problem]]:
    data, problems = read_file_bytes(path, display)
    if data is None:
        return None, problems
    return parse_yaml_bytes(data, display)


def parse_yaml_bytes(data: bytes, display: str) -> tuple[LocatedDocument | None, list[Problem]]:
    text, problems = decode_text(data, display)
    if text is None:
        return None, problems
    if "\r" in text:  # as reading in text mode would: locations count lines the same way everywhere
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return load_yaml(text, display)
