"""A loaded configuration: the desired state, its settings, and what it refers to but does not declare."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.config.settings import Settings
from reconciler.errors import Location, Problem
from reconciler.model import DesiredState, Key, Kind, format_key


@dataclass(frozen=True)
class Reference:
    """A reference to an object the configuration does not declare: it must exist live."""

    kind: Kind
    key: Key
    locate: Callable[[], Location]  # looked up only when a message needs it
    by: str  # what refers to it, for messages

    @property
    def where(self) -> Location:
        return self.locate()

    def problem(self) -> Problem:
        return Problem(self.where, f"{self.by} refers to {self.kind.value} '{format_key(self.key)}', "
                                   f"which is declared nowhere")


@dataclass
class Configuration:
    root: Path
    settings: Settings
    desired: DesiredState
    dangling: list[Reference]
    checksum: str
    files: list[str]
