"""-v, --debug and --quiet, through Python's logging.

Levels: warnings by default, each phase with its counts at -v (INFO), every request at --debug
(the client's `reconciler.http` logger: method, path, status, time), errors only at --quiet.
Every line goes to stderr through `scrub`, so no credential reaches a log, and erases the progress
line first. Light on purpose: the command line imports it before it knows whether a client is
needed (retries.py is the part that knows the client).
"""

from __future__ import annotations

import logging

import click

from reconciler import progress
from reconciler.secrets import scrub

LOG = logging.getLogger("reconciler")


class _StderrHandler(logging.Handler):
    """Writes to whatever stderr is now (click's test runner swaps it), scrubbed."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = scrub(self.format(record))
        except Exception:  # logging must never break a command
            self.handleError(record)
            return
        progress.pause()
        click.echo(text, err=True)


def configure(verbose: int, debug: bool, quiet: bool) -> None:
    """Set the `reconciler` loggers' level and one handler (replacing an earlier call's)."""
    if quiet:
        level = logging.ERROR
    elif debug or verbose >= 2:
        level = logging.DEBUG
    elif verbose:
        level = logging.INFO
    else:
        level = logging.WARNING
    for handler in [h for h in LOG.handlers if isinstance(h, _StderrHandler)]:
        LOG.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s" if level > logging.DEBUG else
                                           "%(relativeCreated)7.0f ms %(name)s: %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(level)
    LOG.propagate = False
