"""Read-only commands on the account: plan, drift, and show (a saved plan)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from reconciler.cli.app import EXIT_CHANGES, note
from reconciler.cli.options import (
    backend_options,
    commit_name,
    config_dir,
    marker_option,
    scope_option,
    split_flags,
    with_render_options,
)
from reconciler.cli.pipeline import error_comment, load, read_and_plan, report_calls, session, show_plan, write_text
from reconciler.errors import ReconcilerError


@click.command()
@click.argument("plan_file", metavar="PLANFILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--redact", is_flag=True, help="Mask emails and personal or billing values (for public comments).")
def show(plan_file: Path, fmt: str, redact: bool) -> None:
    """Render a saved plan (from `plan --out`) without contacting the account."""
    from reconciler.planfile import load_plan

    show_plan(load_plan(plan_file), fmt, redact, None)


@click.command()
@config_dir
@backend_options
@with_render_options
@scope_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan for `apply --plan`.")
@click.option("--commit", default=None, metavar="SHA", callback=commit_name,
              help="The git commit the configuration is at; saved with --out, so that `apply --expect-commit` can "
                   "refuse another commit's plan.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors.")
@marker_option
@click.option("--comment-to", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="With --comment-marker: write the comment body to FILE, the plan when it succeeds and the "
                   "problems when it fails (stdout then shows the plan as usual).")
def plan(directory: Path, fmt: str, redact: bool, split_to: Path | None, scopes: tuple[Any, ...], out: Path | None,
         commit: str | None, detailed_exitcode: bool, marker: str | None, comment_to: Path | None,
         **kwargs: Any) -> None:
    """Show what apply would change. Read-only."""
    from reconciler import engine
    from reconciler.artifacts import redact_saved
    from reconciler.planfile import save_plan
    from reconciler.render import render
    from reconciler.render.comment import plan_body

    if comment_to is not None and marker is None:
        raise click.UsageError("--comment-to goes with --comment-marker")
    if marker is not None and comment_to is None and split_to is not None:
        raise click.UsageError("--comment-marker prints one comment; with --split-to, write it with --comment-to")
    try:
        config = load(directory)
        options = engine.resolve_options(split_flags(kwargs), config.settings)
        with session(options) as client:
            the_plan, _ = read_and_plan(config, client, options.backend, scopes)
            report_calls(client.calls, client.retries)
    except ReconcilerError as error:
        if marker is not None and comment_to is not None:
            write_text(comment_to, error_comment(marker, error, redact))
        raise
    if commit:
        the_plan = replace(the_plan, commit=commit)
    if marker is not None:
        more = "The whole plan is in the workflow run's artifacts (`reconciler show plan.json --format markdown`)."
        body = plan_body(marker, render(the_plan, "markdown", redact=redact), more)
        if comment_to is None:
            click.echo(body, nl=False)
        else:
            write_text(comment_to, body)
    if marker is None or comment_to is not None:
        show_plan(the_plan, fmt, redact, split_to)
    if out:
        save_plan(redact_saved(the_plan) if redact else the_plan, out)
        note(f"Plan saved to {out}.")
    if detailed_exitcode and not the_plan.empty:
        sys.exit(EXIT_CHANGES)


@click.command()
@config_dir
@backend_options
@scope_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "yaml-patch"]), default="text",
              show_default=True, help="yaml-patch: a diff to the configuration that adopts the live values.")
@click.option("--redact", is_flag=True, help="Mask emails and personal or billing values.")
def drift(directory: Path, scopes: tuple[Any, ...], fmt: str, redact: bool, **kwargs: Any) -> None:
    """Read-only check for a schedule: exit 2 when the account differs from the configuration."""
    from reconciler import engine
    from reconciler.render import summary_line
    from reconciler.render.yaml_patch import yaml_patch

    config = load(directory)
    options = engine.resolve_options(split_flags(kwargs), config.settings)
    with session(options) as client:
        the_plan, live = read_and_plan(config, client, options.backend, scopes)
    if fmt == "yaml-patch":
        click.echo(yaml_patch(the_plan, config, live, redact=redact), nl=False)
    else:
        show_plan(the_plan, fmt, redact, None)
    if not the_plan.empty:
        note(f"Drift: {summary_line(the_plan)}")
        sys.exit(EXIT_CHANGES)
