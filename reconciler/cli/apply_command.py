"""apply: a fresh plan, a saved plan (--plan) or a resumed one (--resume), with the guard
rails, the confirmation and the pull-request summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from reconciler import progress
from reconciler.cli.app import LOG, explain_api_error, note, progress_line, use_color
from reconciler.cli.options import backend_options, commit_name, config_dir, marker_option, scope_option, split_flags
from reconciler.cli.pipeline import load, read_and_plan, report_calls, session, write_text
from reconciler.errors import ApiError, PlanRefused, ReconcilerError


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


@click.command()
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
