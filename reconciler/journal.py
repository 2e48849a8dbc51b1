"""A journal of every write an apply makes, so an interrupted apply can be resumed exactly.

One JSON-lines file per apply in .reconciler/journal/: the plan first, then for each change its
intent and its outcome. Bodies hold configuration values only, never credentials. Each line is
flushed as it is written, so a killed process leaves every line it wrote.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import Location, ReconcilerError
from reconciler.plan import Change, Plan
from reconciler.planfile import plan_from_json, plan_to_json
from reconciler.secrets import scrub


def state_dir() -> Path:
    """Where journals and the apply lock live (beside the sandbox by default)."""
    return Path(os.environ.get("RECONCILER_STATE_DIR") or ".reconciler")


@dataclass
class JournalState:
    """What a journal says happened: change index -> last event (intent, done, failed, skipped)."""

    path: Path
    plan: Plan
    events: dict[int, str] = field(default_factory=dict)
    finished: bool = False


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.is_symlink() or path.is_symlink():
            raise ReconcilerError(f"{path}: the journal never follows a symbolic link; remove it")
        # O_NOFOLLOW: a link planted after the check still cannot redirect the writes
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        try:
            descriptor = os.open(path, flags, 0o600)
        except OSError as error:
            raise ReconcilerError(f"{path}: cannot open the apply journal ({error.strerror})") from None
        self._file = os.fdopen(descriptor, "a", encoding="utf-8")
        self._lock = threading.Lock()

    @classmethod
    def create(cls, plan: Plan, directory: Path | None = None) -> Journal:
        directory = directory or state_dir() / "journal"
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        journal = cls(directory / f"apply-{stamp}-{os.getpid()}.jsonl")
        journal.write({"event": "start", "plan": plan_to_json(plan)})
        return journal

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"time": round(time.time(), 3), **record}, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def change(self, event: str, index: int, change: Change, detail: str | None = None) -> None:
        record: dict[str, Any] = {"event": event, "index": index, "change": change.label}
        if detail:
            record["detail"] = scrub(detail)
        self.write(record)

    def close(self, finished: bool) -> None:
        self.write({"event": "finish" if finished else "stop"})
        self._file.close()


class UnreadableJournal(ReconcilerError):
    pass


class UnstartedJournal(UnreadableJournal):
    """A journal whose start record never landed whole (its apply was killed while opening it):
    nothing was sent under it, since every write is journalled after the start."""


def read_journal(path: Path) -> JournalState:
    """A journal as written. A torn last line (a process killed mid-write) is ignored: that change
    was only begun. Anything else that does not parse is an error at its line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableJournal(f"{path}: cannot read the apply journal ({type(error).__name__})") from None
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as error:
            if number == len(lines):
                break
            where = Location(str(path), number, 1)
            raise UnreadableJournal(f"{where}: not a journal record ({error}); move the file away to start afresh "
                                    "(the next plan reads the account as it is)") from None
        records.append(record)
    if not records:
        raise UnstartedJournal(f"{path}: the apply that opened this journal stopped before it began")
    if records[0].get("event") != "start":
        raise UnreadableJournal(f"{path}: not an apply journal (no start record)")
    state = JournalState(path, plan_from_json(records[0].get("plan"), str(path)))
    for record in records[1:]:
        if isinstance(record.get("index"), int):
            state.events[record["index"]] = str(record.get("event"))
        elif record.get("event") in ("finish", "abandoned"):
            state.finished = True
    return state


def latest_unfinished(directory: Path | None = None) -> JournalState | None:
    directory = directory or state_dir() / "journal"
    for path in sorted(directory.glob("apply-*.jsonl"), reverse=True) if directory.is_dir() else []:
        try:
            state = read_journal(path)
        except UnstartedJournal:
            continue  # nothing to resume or to abandon: nothing was sent under it
        if not state.finished:
            return state
    return None


def abandon_unfinished(directory: Path | None = None) -> list[Path]:
    """Mark interrupted journals as superseded by a fresh plan (which starts from the live account)."""
    abandoned = []
    while (state := latest_unfinished(directory)) is not None:
        with state.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps({"time": round(time.time(), 3), "event": "abandoned"}) + "\n")
        abandoned.append(state.path)
    return abandoned
