"""Progress on a terminal: done of total, elapsed time and an ETA on one updating line.

Built on click's progress bar, for the command line only: the engine reports through plain
`(done, total)` callables and never imports this. Callbacks arrive from worker threads, so every
update takes a lock, and the line is redrawn at most every `interval` seconds. Anything else
written to the terminal first erases the line (`pause`), so log and event lines never mix with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import click

_active: list[ProgressLine] = []  # the line on screen, if any: output goes above it


def pause() -> None:
    """Erase the progress line (if one is showing) before something else is written."""
    for line in list(_active):
        line.clear()


class ProgressLine:
    """`line(done, total)` from any thread; `close()` when the phase ends."""

    def __init__(self, label: str, stream: TextIO, interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._lock = threading.RLock()
        self._drawn = 0.0
        self._bar: Any = None  # click's ProgressBar, made at the first update

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            bar = self._ensure(total)
            if total != bar.length:  # a new phase (or a total found to be larger)
                bar.length, bar.pos, bar.finished = total, 0, False
            done = max(done, bar.pos)  # threads may report out of order
            now = self.clock()
            if now - self._drawn < self.interval and done < total:
                bar.pos = done  # counted now, drawn with the next update
                return
            bar.update(done - bar.pos)
            self._drawn = now

    def _ensure(self, total: int) -> Any:
        if self._bar is None:
            self._bar = click.progressbar(length=max(total, 1), label=self.label, file=self.stream, show_pos=True,
                                          show_percent=False, show_eta=False, item_show_func=self._times,
                                          bar_template="%(label)s [%(bar)s] %(info)s", width=24)
            self._bar.length = total
            _active.append(self)
        return self._bar

    def _times(self, _item: object) -> str:
        """Elapsed time, and once there is a rate to go by, the time left at that rate."""
        elapsed = self.clock() - self.started
        text = f"elapsed {_clock_text(elapsed)}"
        done, total = self._bar.pos, self._bar.length or 0
        if 0 < done < total and elapsed >= 1.0:
            text += f", eta {_clock_text(elapsed / done * (total - done))}"
        return text

    def clear(self) -> None:
        with self._lock:
            if self._bar is not None and self._bar._last_line:
                self.stream.write("\r" + " " * (self._bar.max_width or 0) + "\r\x1b[?25h")  # and the cursor back
                self.stream.flush()
                self._bar._last_line = None  # drawn again at the next update

    def redraw(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.render_progress()

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self.clear()
                _active.remove(self)
                self._bar = None


def _clock_text(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    return f"{minutes}:{second:02d}" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}:{second:02d}"
