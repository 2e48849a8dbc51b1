"""Options that several commands share: backend, scope, render, commit and comment-marker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click


def backend_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--backend", default=None,
                     help="Backend: sandbox, clicktime, membrane or membrane-api (default: $RECONCILER_BACKEND, "
                          "the settings file, or sandbox)."),
        click.option("--sandbox", "sandbox", metavar="PATH", default=None,
                     help="Sandbox database (default: $RECONCILER_SANDBOX or .reconciler/sandbox.sqlite3)."),
        click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="API requests per second at most (default: unlimited; 429s are honoured)."),
        click.option("--concurrency", type=click.IntRange(1, 64), default=None,
                     help="API requests in flight at most, on every backend (default 4)."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True, max=3600), default=None,
                     help="Seconds to wait for one API answer (default 30; 75 through Membrane)."),
        click.option("--connection", default=None, metavar="ID",
                     help="Membrane connection ID (default: $MEMBRANE_CONNECTION_ID, the settings file, or the one "
                          "ready ClickTime connection)."),
    ]):
        command = option(command)
    return command


BACKEND_FLAGS = ("backend", "sandbox", "rate_limit", "concurrency", "timeout", "connection")
config_dir = click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))


def split_flags(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: kwargs.pop(name) for name in BACKEND_FLAGS if name in kwargs}


def scope_option(command: Callable[..., Any]) -> Callable[..., Any]:
    def parse(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> tuple[Any, ...]:
        from reconciler.scope import parse_scope

        try:
            return tuple(parse_scope(value) for value in values)
        except ValueError as error:
            raise click.BadParameter(str(error), ctx, param) from None

    return click.option("--only", "scopes", multiple=True, metavar="KIND[:GLOB]", callback=parse,
                        help="Limit the plan to part of the account (repeatable): clients, jobs:ACME/*, "
                             "users:*@example.com. The rest is neither changed nor pruned.")(command)


def commit_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not (7 <= len(value) <= 64 and all(c in "0123456789abcdefABCDEF" for c in value)):
        raise click.BadParameter(f"{value!r} is not a git commit name (7 to 64 hex digits)", ctx, param)
    return value.lower()


def marker_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from reconciler.render.comment import check_marker

    if value is None:
        return None
    try:
        return check_marker(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


marker_option = click.option("--comment-marker", "marker", default=None, metavar="ID", callback=marker_name,
                             help="Write a pull-request comment body that starts with the hidden line "
                                  "<!-- reconciler:ID -->, by which a workflow finds and edits its own comment.")


def with_render_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                     show_default=True),
        click.option("--redact", is_flag=True, help="Mask emails and personal or billing values (for public "
                                                    "comments); with --out, the saved plan's old values too."),
        click.option("--split-to", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Write the rendering as DIR/plan-N.md files, each fit for one GitHub comment (65,536 "
                          "characters), and print their paths."),
    ]):
        command = option(command)
    return command
