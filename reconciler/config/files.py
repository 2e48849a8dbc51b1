"""Which files of a configuration directory are read, and which entries are refused.

The directory comes from a pull request. A file left out would let `prune` deactivate what it
declares, so nothing that looks like configuration is skipped in silence: `*.yaml` and `*.yml`
in any case are read, and a link, a name or a directory that cannot be read safely is a problem.
Nothing outside the directory is read, nor anything in it that is not configuration (a hidden
entry, another extension), so no message can quote, say, a `.netrc` or `.git/config` a link
points at. Hidden entries (`.git`, `.github`) are not configuration and are passed over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.config.chars import hidden_character, visible
from reconciler.errors import Location, Problem

SUFFIXES = (".yaml", ".yml")
# Links inside the directory may repeat a subtree; a bound keeps a crafted tree from exploding.
MAX_DIRECTORIES = 10_000


def is_configuration_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(SUFFIXES)


@dataclass
class _Walk:
    root: Path
    real_root: str
    files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    directories: int = 0

    def refuse(self, path: Path, message: str) -> None:
        self.problems.append(Problem(Location(visible(str(path))), message))

    def inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip(os.sep) + os.sep)

    def relative(self, real: str) -> str:
        return Path(os.path.relpath(real, self.real_root)).as_posix()


def find_files(root: Path) -> tuple[list[Path], list[Problem]]:
    """Every configuration file below root (the settings file included), sorted by path, and
    a problem for each entry that looks like configuration but is refused or unreadable."""
    walk = _Walk(root, os.path.realpath(root))
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, (walk.real_root,))]
    while stack:
        directory, ancestors = stack.pop()
        walk.directories += 1
        if walk.directories > MAX_DIRECTORIES:
            walk.refuse(directory, f"more than {MAX_DIRECTORIES:,} directories to read; refusing to go on")
            break
        try:
            with os.scandir(directory) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError as error:
            walk.refuse(directory, f"cannot read directory: {error.strerror}")
            continue
        for entry in listed:
            child = _entry(walk, directory / entry.name, entry, ancestors)
            if child is not None:
                stack.append(child)
    walk.files.sort(key=lambda p: p.relative_to(root).as_posix())
    return walk.files, walk.problems


def _entry(walk: _Walk, path: Path, entry: os.DirEntry[str], ancestors: tuple[str, ...]
           ) -> tuple[Path, tuple[str, ...]] | None:
    """Record one directory entry; return it if it is a directory to walk."""
    name = entry.name
    if name.startswith("."):
        return None
    try:
        is_link = entry.is_symlink()
        is_dir = entry.is_dir()  # follows a link
    except OSError as error:
        if is_configuration_name(name):
            walk.refuse(path, f"cannot read file: {error.strerror}")
        return None
    if not (is_dir or is_configuration_name(name)):
        return None
    odd = hidden_character(name)
    if odd is not None:
        walk.refuse(path, f"file name contains {odd}; rename the file")
        return None
    if not is_link:
        if is_dir:
            return path, (*ancestors, os.path.join(ancestors[-1], name))
        walk.files.append(path)
        return None
    return _link(walk, path, is_dir, ancestors)


def _link(walk: _Walk, path: Path, is_dir: bool, ancestors: tuple[str, ...]) -> tuple[Path, tuple[str, ...]] | None:
    target = os.path.realpath(path)
    if not os.path.exists(target):
        walk.refuse(path, "symbolic link to nothing (its target does not exist)")
        return None
    what = "a directory" if is_dir else "a file"
    if not walk.inside(target):
        walk.refuse(path, f"symbolic link to {what} outside the configuration directory; only files inside it are read")
        return None
    relative = walk.relative(target)
    hidden = any(part.startswith(".") for part in relative.split("/"))
    if is_dir:
        if target in ancestors:
            walk.refuse(path, "symbolic link to a directory that contains it")
        elif hidden:
            walk.refuse(path, f"symbolic link to {visible(relative)}, a hidden directory, which is not configuration")
        else:
            return path, (*ancestors, target)
        return None
    if hidden or not is_configuration_name(os.path.basename(target)):
        walk.refuse(path, f"symbolic link to {visible(relative)}, which is not a configuration file "
                          "(it is hidden or not named *.yaml or *.yml)")
        return None
    walk.files.append(path)
    return None
