"""Small performance helpers shared by the hot paths (load, diff, render)."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def gc_paused() -> Iterator[None]:
    """Loading and planning allocate millions of small objects and free almost none: the cyclic
    garbage collector's full passes over them would cost more than the work itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the block made is now all in the youngest generation: the first collection after
        # it would traverse millions of survivors. Freezing and unfreezing moves them straight to
        # the oldest generation (two list splices, no traversal), which only full passes visit.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def without_gc(function: F) -> F:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with gc_paused():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextmanager
def kept_alive() -> Iterator[None]:
    """For a block that keeps most of what it allocates (reading an account, planning): what is
    alive on entry (a loaded configuration, millions of objects) is out of the cyclic garbage
    collector's sight meanwhile (gc.freeze), and only young objects are collected: a full
    collection would traverse everything to free next to nothing. Reading a large account
    costs about half as much CPU that way. Young collections keep running, because each HTTP
    request leaves a few dozen objects of cyclic garbage (some 6 KB) that they free. On the way
    out, the thresholds are restored and everything is the collector's again (gc.unfreeze)."""
    young, middle, full = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(young, middle, 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, full)
        gc.unfreeze()
