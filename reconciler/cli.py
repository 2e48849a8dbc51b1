"""Command line: click options only. The only module that prints or exits.

Exit codes: 0 success (or no changes); 1 error, usage errors included; 2 changes pending
(plan --detailed-exitcode) or drift; 130 interrupted (Ctrl-C). Every command runs the engine;
errors reach the user through one choke point, `ReconcilerGroup.invoke`.

Output: results on stdout; notes, progress (on a terminal only) and log lines on stderr; -v,
--debug and --quiet set the log level (see logs.py).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from reconciler import __version__, logs, progress
from reconciler.errors import ApiError, ApplyError, ConfigError, PlanRefused, ReconcilerError, RequestFailed

LOG = logging.getLogger("reconciler")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def fail(message: str) -> None:
    from reconciler.config.chars import visible

    progress.pause()
    prefix = click.style("Error: ", fg="red", bold=True) if use_color(sys.stderr) else "Error: "
    # a server's message may carry terminal controls: every line is shown escaped
    click.echo(prefix + "\n".join(visible(line) for line in message.split("\n")), err=True)


def explain_api_error(error: ApiError) -> str:
    """One line that says what went wrong and what to do about it."""
    said = "; ".join(error.messages)
    if error.status == 401:
        return ("ClickTime rejected the API token (HTTP 401): check CLICKTIME_TOKEN; a token is shown in ClickTime "
                f"under My Preferences > Authentication Token ({said})")
    if error.status == 403:
        if error.path.startswith("/Jobs/") and ("/Tasks" in error.path or "/Users" in error.path):
            return (f"{error.method} {error.path} was refused (HTTP 403): {said}. The company's list-control "
                    "settings disable this assignment endpoint; stop managing job tasks/users or change them")
        return (f"the token's user lacks a permission for {error.method} {error.path} (HTTP 403): {said}. "
                "Deletes and setting security levels need an Administrator's token")
    return str(error)


def report_error(error: ReconcilerError) -> int:
    """Print an error the way its kind deserves; return the exit code."""
    from reconciler.engine import Interrupted

    if isinstance(error, ConfigError):
        for problem in error.problems:
            click.echo(str(problem), err=True)
        count = len(error.problems)
        fail(f"{count} problem{'s' if count != 1 else ''} found; nothing was changed")
        return EXIT_ERROR
    if isinstance(error, Interrupted):
        fail(str(error))
        return EXIT_INTERRUPTED
    if isinstance(error, ApplyError):
        outcome = error.outcome
        click.echo(f"Apply finished with failures: {len(outcome.applied)} applied, {len(outcome.failed)} "
                   f"failed, {len(outcome.skipped)} skipped.", err=True)
    if isinstance(error, ApiError):
        fail(explain_api_error(error))
    elif isinstance(error, RequestFailed):
        fail(f"{error}; check the network and the API address (`reconciler doctor` tells which)")
    else:
        fail(str(error))
    return EXIT_ERROR


class ReconcilerGroup(click.Group):
    """The one error choke point: project errors, usage errors and Ctrl-C become messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReconcilerError as error:
            sys.exit(report_error(error))
        except KeyboardInterrupt:
            fail("interrupted; nothing more was sent")
            sys.exit(EXIT_INTERRUPTED)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.ClickException as error:  # usage errors exit 1: 2 means "changes pending"
            error.show()
            sys.exit(EXIT_ERROR)
        except (click.Abort, KeyboardInterrupt):
            fail("interrupted")
            sys.exit(EXIT_INTERRUPTED)


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


@dataclass
class Output:
    quiet: bool = False


def quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx is not None else None
    return isinstance(root, Output) and root.quiet


def note(text: str) -> None:
    """A remark on stderr (not a result): left out under --quiet."""
    if not quiet():
        progress.pause()
        click.echo(text, err=True)


def progress_line(label: str) -> progress.ProgressLine | None:
    """An updating progress line on stderr, only when stderr is a terminal and not --quiet."""
    if quiet() or not sys.stderr.isatty():
        return None
    return progress.ProgressLine(label, sys.stderr)


@click.group(cls=ReconcilerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option("-v", "--verbose", count=True, help="Say what each phase did, with counts, and each retry and its wait.")
@click.option("--debug", is_flag=True, help="Also log every API request: method, path, status and time (never a "
                                            "token).")
@click.option("-q", "--quiet", "be_quiet", is_flag=True, help="Results and errors only: no progress, notes or logs.")
@click.pass_context
def main(ctx: click.Context, verbose: int, debug: bool, be_quiet: bool) -> None:
    """GitOps for ClickTime: validate YAML, plan the difference to the live account, apply it.

    Exit codes: 0 success, 1 error (usage errors included), 2 changes pending or drift, 130
    interrupted."""
    if be_quiet and (verbose or debug):
        raise click.UsageError("--quiet goes with neither -v nor --debug")
    ctx.obj = Output(quiet=be_quiet)
    logs.configure(verbose, debug, be_quiet)


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


@main.command()
@click.option("--from", "csv_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV file with a header row.")
@click.option("--kind", type=click.Choice(["jobs", "clients", "users", "tasks"]), required=True)
@click.option("--template", default=None, help="Job template every scaffolded job starts from.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write <csv name>.yaml into.")
def scaffold(csv_path: Path, kind: str, template: str | None, out: Path) -> None:
    """Turn a spreadsheet export into configuration YAML."""
    from reconciler.model import KIND_BY_SECTION
    from reconciler.scaffold import scaffold as make_scaffold
    from reconciler.scaffold import write_scaffold

    target = out / f"{csv_path.stem}.yaml"
    if target.exists():
        raise ReconcilerError(f"{target} exists; remove it or choose another --out")
    result = make_scaffold(csv_path, KIND_BY_SECTION[kind], template)
    for warning in getattr(result, "warnings", ()):
        click.echo(f"warning: {warning}", err=True)
    path = write_scaffold(result, csv_path, out)
    click.echo(f"wrote {path} ({result.count} {kind})")


@main.command(name="render")
@config_dir
def render_command(directory: Path) -> None:
    """Print the configuration with defaults, templates and ${VARIABLES} expanded."""
    from reconciler.config.loader import load_configuration
    from reconciler.render.expanded import render_expanded

    click.echo(render_expanded(load_configuration(directory).desired), nl=False)


@main.command()
@config_dir
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help='json: {"valid", "problems": [{"path", "line", "column", "message"}], "files", "objects"} on '
                   "stdout, for editors and bots; objects is null when the configuration is invalid.")
def validate(directory: Path, fmt: str) -> None:
    """Check the configuration (schema and references) without contacting any backend."""
    from reconciler.config.loader import discover, load_configuration

    if fmt == "text":
        config = load_configuration(directory, require_declared=True)
        count = sum(len(objs) for objs in config.desired.objects.values())
        click.echo(f"{directory}: valid ({len(config.files)} file(s), {count} object(s)).")
        return
    try:
        config = load_configuration(directory, require_declared=True)
    except ConfigError as error:
        files = len(discover(directory)) if directory.is_dir() else 0
        problems = [{"path": p.where.path, "line": p.where.line, "column": p.where.column, "message": p.message}
                    for p in error.problems]
        # how many objects an invalid configuration declares is unknown, not zero
        click.echo(json.dumps({"valid": False, "problems": problems, "files": files, "objects": None}, indent=2))
        sys.exit(EXIT_ERROR)
    count = sum(len(objs) for objs in config.desired.objects.values())
    click.echo(json.dumps({"valid": True, "problems": [], "files": len(config.files), "objects": count}, indent=2))


@main.command()
@click.argument("name", type=click.Choice(["config", "settings"]), default="config")
def schema(name: str) -> None:
    """Print a JSON Schema: config (the configuration files) or settings (reconciler.yaml)."""
    from reconciler.config.schema import load_schema

    click.echo(json.dumps(load_schema(f"{name}.schema.json"), indent=2, ensure_ascii=False))


@main.command()
@click.argument("plan_file", metavar="PLANFILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--redact", is_flag=True, help="Mask emails and personal or billing values (for public comments).")
def show(plan_file: Path, fmt: str, redact: bool) -> None:
    """Render a saved plan (from `plan --out`) without contacting the account."""
    from reconciler.planfile import load_plan

    show_plan(load_plan(plan_file), fmt, redact, None)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@main.command()
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


@main.command()
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


def confirm_or_refuse(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ReconcilerError("refusing to apply without confirmation: no terminal to ask on; pass --yes")
    if not click.confirm("Apply these changes?", default=False):
        raise ReconcilerError("apply cancelled; nothing was changed")


def event_printer(redact: bool, bar: progress.ProgressLine | None, total: int) -> Callable[..., None]:
    """Prints each change's outcome and moves the progress line (Applier calls it under its lock)."""
    from reconciler.render.redact import redact_change
    from reconciler.render.text import Styler, change_lines

    style = Styler(use_color())
    done = 0

    def report(event: str, change: Any, detail: str) -> None:
        nonlocal done
        from reconciler.render.redact import mask_emails

        shown = redact_change(change) if redact else change
        line = change_lines(shown, style)[0].lstrip()
        detail = mask_emails(detail) if redact else detail
        progress.pause()
        click.echo(f"  {event}: {line}" + (f" ({detail})" if detail else ""), err=event != "applied")
        done += 1
        if bar is not None:
            bar(done, total)

    return report


@dataclass
class ApplyReport:
    """What the apply summary (--summary-to) says."""

    outcome: Any = None
    problem: str = ""


def apply_plan(client: Any, the_plan: Any, live: Any, settings: Any, yes: bool, force: bool, allow_delete: bool,
               resume: Any = None, redact: bool = False, report: ApplyReport | None = None) -> None:
    """Show the plan, check guard rails, confirm, then apply."""
    from reconciler import engine
    from reconciler.errors import ApplyOutcome
    from reconciler.render import render

    click.echo(render(the_plan, "text", color=use_color(), redact=redact), nl=False)
    todo = engine.pending(the_plan, resume)
    if not todo:
        if resume is not None:
            engine.finish_journal(resume)
            click.echo("Nothing left to resume: every change of that apply is done.")
        if report is not None:
            report.outcome = ApplyOutcome()
        return
    for reason in engine.check_guard_rails(the_plan, settings, force, allow_delete):
        click.echo(f"guard rail overridden by --force: {reason}", err=True)
    confirm_or_refuse(yes)
    started = time.monotonic()
    bar = progress_line("Applying")
    run = engine.ApplyRun(client, the_plan, live, event_printer(redact, bar, len(todo)), resume,
                          on_note=lambda text: note(f"note: {text}"))
    try:
        outcome = run.execute()
    finally:
        if bar is not None:
            bar.close()
    if report is not None:
        report.outcome = outcome
    LOG.info("applied %d change(s) in %.1f s", len(outcome.applied), time.monotonic() - started)
    click.echo(f"Apply complete: {len(outcome.applied)} change(s) applied.")
    report_calls(client.calls, client.retries)


def check_commit(saved: Any, plan_file: Path, expected: str) -> None:
    """`--expect-commit`: the plan must have been made from this commit (or a name of it)."""
    if not saved.commit:
        raise PlanRefused(f"{plan_file} records no commit (it was saved without `plan --commit`); make the plan "
                          f"again with --commit {expected}")
    short, long = sorted((saved.commit, expected), key=len)
    if not long.startswith(short):
        raise PlanRefused(f"{plan_file} was planned from commit {saved.commit}, not {expected}: it is the plan of "
                          "another commit (another pull request, or an older push to this one); apply the plan "
                          "made from the merged commit, or plan again")


def write_summary(path: Path, marker: str | None, report: ApplyReport, commit: str, directory: Path,
                  redact: bool) -> None:
    from reconciler.render.comment import apply_body
    from reconciler.render.markdown import code

    outcome = report.outcome
    applied, failed, skipped = (outcome.applied, outcome.failed, outcome.skipped) if outcome else ([], [], [])
    steps = (f"Where the journal is kept (`{state_dir_name()}`), {code(f'reconciler apply {directory} --resume')} "
             "finishes the rest without repeating a write. Otherwise plan again (push to a pull request, or run "
             f"{code(f'reconciler plan {directory}')}): a fresh plan reads the account as it is now and shows "
             "what remains.")
    write_text(path, apply_body(marker, applied, failed, skipped, report.problem, steps, commit, redact))


def state_dir_name() -> str:
    from reconciler.journal import state_dir

    return str(state_dir() / "journal")


@main.command()
@config_dir
@backend_options
@scope_option
@click.option("--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Apply exactly this saved plan (refused if the account or the configuration changed since).")
@click.option("--expect-commit", default=None, metavar="SHA", callback=commit_name,
              help="With --plan: refuse a plan not made from this commit (`plan --commit`).")
@click.option("--resume", is_flag=True, help="Continue the last interrupted apply without repeating its writes.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Override the guard-rail thresholds, and a plan made from another "
                                            "configuration than the one in DIR.")
@click.option("--allow-delete", is_flag=True, help="Allow the hard deletes that tombstones (absent: true) ask for.")
@click.option("--redact", is_flag=True, help="Mask emails and personal or billing values in what is printed and in "
                                            "the summary (for public logs).")
@click.option("--summary-to", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Write the result as Markdown for a pull-request comment: applied, failed and skipped changes, "
                   "and how to finish; written whether the apply succeeds or not.")
@marker_option
def apply(directory: Path, scopes: tuple[Any, ...], plan_file: Path | None, expect_commit: str | None, resume: bool,
          yes: bool, force: bool, allow_delete: bool, redact: bool, summary_to: Path | None, marker: str | None,
          **kwargs: Any) -> None:
    """Apply the configuration to the account (shows the plan and asks first)."""
    if scopes and (plan_file or resume):
        raise click.UsageError("--only limits a fresh plan; a saved or resumed plan keeps the scope it was made with")
    if expect_commit and not plan_file:
        raise click.UsageError("--expect-commit goes with --plan")
    if marker is not None and summary_to is None:
        raise click.UsageError("--comment-marker goes with --summary-to")
    report = ApplyReport()
    try:
        run_apply(directory, scopes, plan_file, expect_commit, resume, yes, force, allow_delete, redact, report,
                  split_flags(kwargs))
    except ReconcilerError as error:
        if summary_to is not None:
            report.outcome = getattr(error, "outcome", report.outcome)
            report.problem = explain_api_error(error) if isinstance(error, ApiError) else str(error)
            write_summary(summary_to, marker, report, expect_commit or "", directory, redact)
        raise
    if summary_to is not None:
        write_summary(summary_to, marker, report, expect_commit or "", directory, redact)


def run_apply(directory: Path, scopes: Sequence[Any], plan_file: Path | None, expect_commit: str | None, resume: bool,
              yes: bool, force: bool, allow_delete: bool, redact: bool, report: ApplyReport,
              flags: dict[str, Any]) -> None:
    from reconciler import engine
    from reconciler.live import fetch_touched

    config = load(directory)
    if resume:
        state = engine.find_resumable(config, force, warn=lambda text: click.echo(f"warning: {text}", err=True))
        note(f"Resuming the apply journalled in {state.path}")
        options = engine.resolve_options({**flags, "backend": flags.get("backend") or state.plan.backend},
                                         config.settings)
        with session(options) as client:
            live = fetch_touched(client, state.plan)
            apply_plan(client, state.plan, live, config.settings, yes, force, allow_delete, resume=state,
                       redact=redact, report=report)
        return
    if plan_file is None:
        options = engine.resolve_options(flags, config.settings)
        with session(options) as client:
            the_plan, live = read_and_plan(config, client, options.backend, scopes)
            apply_plan(client, the_plan, live, config.settings, yes, force, allow_delete, redact=redact,
                       report=report)
        return
    if expect_commit:  # first: "another commit's plan" says more than "another configuration"
        from reconciler.planfile import load_plan

        check_commit(load_plan(plan_file), plan_file, expect_commit)
    saved = engine.load_saved_plan(plan_file, config, force, warn=lambda text: click.echo(f"warning: {text}", err=True))
    options = engine.resolve_options({**flags, "backend": flags.get("backend") or saved.backend}, config.settings)
    with session(options) as client:
        live = engine.read_touched(client, saved, config, str(plan_file))
        apply_plan(client, saved, live, config.settings, yes, force, allow_delete, redact=redact, report=report)


@main.command(name="import")
@backend_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Directory to write the configuration into.")
@click.option("--force", is_flag=True, help="Write even if the directory already holds YAML files.")
@click.option("--kinds", default=None, metavar="LIST",
              help="Comma-separated kinds to import (clients,jobs,tasks,users,divisions,employment_types).")
@click.option("--match", default=None, metavar="GLOB",
              help="Import only objects whose key matches (jobs: CLIENT/NUMBER).")
@click.option("--all-fields", is_flag=True, help="Keep fields that equal ClickTime's defaults.")
@click.option("--active-only", is_flag=True, help="Leave inactive objects out.")
def import_(out: Path, force: bool, kinds: str | None, match: str | None, all_fields: bool, active_only: bool,
            **kwargs: Any) -> None:
    """Write the live account as a configuration directory that plans to no changes."""
    from reconciler import engine

    options = engine.resolve_options(split_flags(kwargs))
    with session(options) as client:
        result = engine.import_account(client, out, force, kinds, match, all_fields, active_only)
    for path in result.written:
        click.echo(f"wrote {path}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@main.command()
@config_dir
@backend_options
@click.option("--probe", is_flag=True, help="Also check, read-only, how the account answers what ClickTime's "
                                           "documents leave open (a bounded number of calls).")
@click.option("--record", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="With --probe: write the exchanges as a redacted cassette (no token; names, emails and notes "
                   "masked) that `reconciler sandbox serve --replay DIR` serves.")
def doctor(directory: Path, probe: bool, record: Path | None, **kwargs: Any) -> None:
    """Check the backend end to end and say what is wrong and how to fix it."""
    from reconciler import engine
    from reconciler.config.settings import SETTINGS_FILE, Settings
    from reconciler.doctor import run_doctor

    config = None
    if any(directory.glob("*.yaml")) or any(directory.glob("*/*.yaml")):
        from reconciler.config.loader import load_configuration

        config = load_configuration(directory)
    settings = config.settings if config is not None and (directory / SETTINGS_FILE).is_file() else Settings()
    options = engine.resolve_options(split_flags(kwargs), settings)
    checks = run_doctor(options, config)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok and check.fix:
            click.echo(f"       fix: {check.fix}")
    if not all(check.ok for check in checks):
        sys.exit(EXIT_ERROR)
    if probe:
        report = engine.first_contact(options, config, record)
        click.echo("\nProbe (read-only):")
        for finding in report.findings:
            click.echo(f"  {finding.line()}")
        if report.plan_summary:
            click.echo(f"  plan of {directory}: {report.plan_summary}")
        click.echo(f"  ({report.calls} API call(s))")
        if report.cassette is not None:
            click.echo(f"Cassette written to {report.cassette}; `reconciler sandbox serve --replay {record}` "
                       "serves it.")
    elif record is not None:
        raise ReconcilerError("--record goes with --probe")


@main.group()
def sandbox() -> None:
    """Manage the embedded sandbox account."""


def sandbox_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--sandbox", "sandbox_file", metavar="PATH", default=None,
                        help="Sandbox database (default: $RECONCILER_SANDBOX or .reconciler/sandbox.sqlite3)."
                        )(command)


def sandbox_file_path(option: str | None) -> Path:
    from reconciler import engine

    return engine.resolve_options({"sandbox": option, "backend": "sandbox"}).sandbox_path


def profile_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--profile", default=None, metavar="NAME|FILE",
                        help="Account profile: new-account, bills-by-job (the default), corporate, "
                             "corporate-bills-by-job, or a YAML file that mirrors your account.")(command)


@sandbox.command()
@sandbox_option
@profile_option
def reset(sandbox_file: str | None, profile: str | None) -> None:
    """Start over with a fresh account of a profile: company settings, owner, the nine default tasks."""
    from reconciler.sandbox.emulator import Emulator
    from reconciler.sandbox.profiles import DEFAULT_PROFILE, load_profile

    chosen = load_profile(profile or DEFAULT_PROFILE)
    path = sandbox_file_path(sandbox_file)
    emulator = Emulator.open(str(path))
    try:
        emulator.reset(chosen)
    finally:
        emulator.close()
    click.echo(f"Sandbox at {path} reset to a new account (profile {chosen.name}: {chosen.description}).")


@sandbox.command()
def profiles() -> None:
    """List the account profiles the sandbox ships."""
    from reconciler.sandbox.profiles import PROFILES

    for name, description in PROFILES.items():
        click.echo(f"{name:<24} {description}")


@sandbox.command(name="show")
@sandbox_option
def show_sandbox(sandbox_file: str | None) -> None:
    """Summarise what the sandbox account holds."""
    from reconciler.sandbox.emulator import Emulator

    path = sandbox_file_path(sandbox_file)
    emulator = Emulator.open(str(path))
    try:
        info: Mapping[str, Any] = emulator.summary()
    finally:
        emulator.close()
    company = info["company"]
    click.echo(f"Sandbox: {path}")
    click.echo(f"Company: {company.get('Name')} (JobRestrictionMethod={company.get('JobRestrictionMethod')}, "
               f"TaskRestrictionMethod={company.get('TaskRestrictionMethod')}, "
               f"BillableSetting={company.get('BillableSetting')}, "
               f"EnableProjectApprovals={company.get('EnableProjectApprovals')})")
    for collection, counts in info["counts"].items():
        click.echo(f"  {collection:<8} {counts['active']:>6} active  {counts['inactive']:>6} inactive")
    click.echo(f"  time entries: {info['time_entries']}")


@sandbox.command()
@sandbox_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it loopback).")
@click.option("--port", type=int, default=8765, show_default=True, help="Port (0: any free port).")
@click.option("--latency-ms", type=float, default=0.0, help="Delay added to every request.")
@click.option("--rate-limit", type=float, default=None, help="Requests per second; beyond it 429 with Retry-After.")
@click.option("--max-page-size", type=int, default=None, help="Largest page the server grants.")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Probability of an injected fault (5xx, 429 without Retry-After, dropped answer, slow answer).")
@click.option("--seed", type=int, default=None, help="Seed for the fault injection.")
@click.option("--slow-seconds", type=float, default=3.0, show_default=True, help="How late a slow answer comes.")
@click.option("--token", default=None, help="The token clients must send (default: sandbox-token).")
@profile_option
@click.option("--style", default="", metavar="NAMES",
              help="Answer as a real account might: comma-separated omit-nulls, datetimes, conflict-409, "
                   "small-pages, absolute-links, decimals-as-strings, inactive-by-default, last-query-wins.")
@click.option("--replay", type=click.Path(exists=True, path_type=Path), default=None, metavar="DIR",
              help="Serve a cassette recorded by `reconciler doctor --probe --record DIR` instead of the sandbox.")
def serve(sandbox_file: str | None, host: str, port: int, latency_ms: float, rate_limit: float | None,
          max_page_size: int | None, fault_rate: float, seed: int | None, slow_seconds: float,
          token: str | None, profile: str | None, style: str, replay: Path | None) -> None:
    """Serve the sandbox account over HTTP as ClickTime's REST API v2 (for the clicktime backend)."""
    from reconciler.sandbox.emulator import Emulator
    from reconciler.sandbox.profiles import load_profile
    from reconciler.sandbox.server import DEFAULT_TOKEN, ApiServer, EmulatorServer, Knobs, replay_server
    from reconciler.sandbox.styles import parse_styles

    knobs = Knobs(latency_ms, rate_limit, max_page_size, fault_rate, seed, slow_seconds, token or DEFAULT_TOKEN,
                  style=parse_styles(style))
    server: ApiServer
    if replay is not None:
        server = replay_server(replay, host, port, token or DEFAULT_TOKEN, knobs)
    else:
        emulator = Emulator.open(str(sandbox_file_path(sandbox_file)))
        if profile:
            emulator.reset(load_profile(profile))
        server = EmulatorServer(emulator, host, port, knobs)
    click.echo(f"ClickTime emulator at {server.url} (stats: {server.url[:-3]}/_emulator/stats); Ctrl-C stops it.")
    click.echo(f"  CLICKTIME_API_URL={server.url} CLICKTIME_TOKEN=<the token> reconciler plan --backend clicktime")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":  # pragma: no cover
    main()
