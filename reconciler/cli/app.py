"""The command group, its global options, and the one error choke point.

Exit codes: 0 success (or no changes); 1 error, usage errors included; 2 changes pending
(plan --detailed-exitcode) or drift; 130 interrupted (Ctrl-C). Errors reach the user through
`ReconcilerGroup.invoke`. Commands live in their own modules and load when they run (or when
help lists them), so a command imports only what it uses.

Output: results on stdout; notes, progress (on a terminal only) and log lines on stderr; -v,
--debug and --quiet set the log level (see logs.py).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from reconciler import __version__, logs, progress
from reconciler.errors import ApiError, ApplyError, ConfigError, ReconcilerError, RequestFailed

LOG = logging.getLogger("reconciler")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130

# Every command: its module in reconciler.cli and the click command's name there. A command's
# module loads when it runs (or when help or completion lists it), never for another command.
COMMANDS: dict[str, tuple[str, str]] = {
    "apply": ("apply_command", "apply"),
    "doctor": ("account_commands", "doctor"),
    "drift": ("plan_commands", "drift"),
    "import": ("account_commands", "import_"),
    "plan": ("plan_commands", "plan"),
    "render": ("config_commands", "render_command"),
    "sandbox": ("sandbox_commands", "sandbox"),
    "scaffold": ("config_commands", "scaffold"),
    "schema": ("config_commands", "schema"),
    "show": ("plan_commands", "show"),
    "validate": ("config_commands", "validate"),
}


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
    """The one error choke point: project errors, usage errors and Ctrl-C become messages and exit codes.
    Its commands load on demand (COMMANDS)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, attribute = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"reconciler.cli.{module}"), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

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
