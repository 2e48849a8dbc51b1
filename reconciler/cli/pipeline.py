"""What the commands that read the account share: load, read and plan (with progress and phase
logs), show a plan, and the comment written when a plan fails."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from reconciler.cli.app import LOG, explain_api_error, note, progress_line, use_color
from reconciler.errors import ApiError, ConfigError, ReconcilerError


@contextmanager
def session(options: Any) -> Iterator[Any]:
    """The engine's client for these options, with its retries made visible at -v."""
    from reconciler import engine
    from reconciler.retries import observe

    with engine.session(options) as client:
        yield observe(client)


def load(directory: Path) -> Any:
    from reconciler.config.loader import load_configuration

    config = load_configuration(directory)
    LOG.info("loaded %s: %d file(s), %d object(s)", directory, len(config.files),
             sum(len(objs) for objs in config.desired.objects.values()))
    return config


def read_and_plan(config: Any, client: Any, backend: str, scopes: Sequence[Any] = ()) -> tuple[Any, Any]:
    """engine.read_and_plan with a progress line, phase logs and the --only scopes applied."""
    from reconciler import engine
    from reconciler.render import summary_line
    from reconciler.scope import limit

    started = time.monotonic()
    bar = progress_line("Reading the account")
    try:
        the_plan, live = engine.read_and_plan(config, client, backend, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    counts = ", ".join(f"{len(objs)} {kind.section}" for kind, objs in live.objects.items() if objs)
    LOG.info("read the account in %.1f s: %s (%d API call(s), %d retried)", time.monotonic() - started,
             counts or "nothing", client.calls, client.retries)
    the_plan = limit(the_plan, scopes)
    LOG.info("planned%s: %s", f" ({', '.join(the_plan.partial)})" if the_plan.partial else "", summary_line(the_plan))
    return the_plan, live


def report_calls(calls: int, retries: int) -> None:
    retried = f", {retries} retried" if retries else ""
    note(f"({calls} API call(s){retried})")


def show_plan(the_plan: Any, fmt: str, redact: bool, split_to: Path | None) -> None:
    from reconciler.render import render
    from reconciler.render.markdown import split_comments
    from reconciler.render.redact import redact_plan

    shown = redact_plan(the_plan) if redact else the_plan
    text = render(shown, fmt, color=use_color())
    if split_to is None:
        click.echo(text, nl=False)
        return
    split_to.mkdir(parents=True, exist_ok=True)
    for old in split_to.glob("plan-*.md"):
        old.unlink()
    parts = split_comments(text) if fmt == "markdown" else [text]
    for number, part in enumerate(parts, 1):
        path = split_to / f"plan-{number}.md"
        path.write_text(part, encoding="utf-8")
        click.echo(str(path))


def shown_path(path: str) -> str:
    """A path relative to the working directory when it is below it (comments stay readable)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def error_comment(marker: str, error: ReconcilerError, redact: bool) -> str:
    """The sticky comment's body when the plan could not be made."""
    from reconciler.render.comment import error_body

    if isinstance(error, ConfigError):
        count = len(error.problems)
        return error_body(marker, "ClickTime plan: the configuration is invalid",
                          [f"{shown_path(p.where.path)}{str(p.where)[len(p.where.path):]}: {p.message}"
                           for p in error.problems],
                          f"{count} problem{'s' if count != 1 else ''} found; nothing was changed", redact)
    message = explain_api_error(error) if isinstance(error, ApiError) else str(error)
    return error_body(marker, "ClickTime plan failed", [], message, redact)


def write_text(path: Path, text: str) -> None:
    from reconciler.planfile import write_atomically

    write_atomically(path, text)
