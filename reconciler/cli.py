"""Command line. The only module that prints or exits.

Exit codes: 0 success (or no changes), 1 error, 2 changes pending (plan --detailed-exitcode).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from reconciler import __version__
from reconciler.apply import Applier
from reconciler.backends import BackendOptions, choose_backend, open_client, sandbox_path
from reconciler.clicktime.client import ClickTimeClient
from reconciler.config.loader import Configuration, discover, load_configuration
from reconciler.config.settings import Settings
from reconciler.diff import build_plan, touched_fingerprints
from reconciler.errors import ApiError, ApplyError, ConfigError, PlanRefused, ReconcilerError
from reconciler.export import ImportOptions, write_export
from reconciler.impact import annotate_impact
from reconciler.journal import Journal, JournalState, abandon_unfinished, latest_unfinished, state_dir
from reconciler.live import CORE_KINDS, fetch_live, fetch_touched
from reconciler.lock import ApplyLock
from reconciler.model import KIND_BY_SECTION, KINDS, Key, Kind, LiveState
from reconciler.plan import Change, Plan
from reconciler.render import render, summary_line
from reconciler.render.expanded import render_expanded
from reconciler.render.markdown import split_comments
from reconciler.render.redact import redact_plan
from reconciler.render.text import Styler, change_lines
from reconciler.render.yaml_patch import yaml_patch
from reconciler.safety import guard_rail_refusals
from reconciler.sandbox.emulator import Emulator
from reconciler.scaffold import scaffold as make_scaffold
from reconciler.scaffold import write_scaffold

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def fail(message: str) -> None:
    click.echo(click.style("Error: ", fg="red", bold=True) + message if use_color(sys.stderr) else
               f"Error: {message}", err=True)


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


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's errors into messages and exit code 1; nothing else is caught."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            count = len(error.problems)
            fail(f"{count} problem{'s' if count != 1 else ''} found; nothing was changed")
            sys.exit(EXIT_ERROR)
        except ApplyError as error:
            outcome = error.outcome
            click.echo(f"Apply finished with failures: {len(outcome.applied)} applied, {len(outcome.failed)} "
                       f"failed, {len(outcome.skipped)} skipped.", err=True)
            fail(str(error))
            sys.exit(EXIT_ERROR)
        except ApiError as error:
            fail(explain_api_error(error))
            sys.exit(EXIT_ERROR)
        except ReconcilerError as error:
            fail(str(error))
            sys.exit(EXIT_ERROR)

    return wrapper


def backend_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--connection", default=None, metavar="ID",
                           help="Membrane connection ID (default: $MEMBRANE_CONNECTION_ID, the settings file, "
                                "or the one ready ClickTime connection).")(command)
    command = click.option("--timeout", type=float, default=None,
                           help="Seconds to wait for one API answer (default 30).")(command)
    command = click.option("--concurrency", type=click.IntRange(1, 64), default=None,
                           help="API requests in flight at most (default 4).")(command)
    command = click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), default=None,
                           help="API requests per second at most (default: unlimited; 429s are honoured).")(command)
    command = click.option("--sandbox", "sandbox", metavar="PATH", default=None,
                           help="Sandbox database (default: $RECONCILER_SANDBOX or .reconciler/sandbox.sqlite3).")(command)
    command = click.option("--backend", default=None,
                           help="Backend (default: $RECONCILER_BACKEND, the settings file, or sandbox).")(command)
    return command


config_dir = click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))


class Session:
    """A backend connection, configured from flags, then settings, then defaults; closed on exit."""

    def __init__(self, flags: Mapping[str, Any], settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self.backend = self.backend_from(flags, settings)
        self.client: ClickTimeClient = open_client(self.backend, self.options_from(flags, settings))

    @staticmethod
    def backend_from(flags: Mapping[str, Any], settings: Settings) -> str:
        return choose_backend(flags.get("backend"), settings.backend)

    @staticmethod
    def options_from(flags: Mapping[str, Any], settings: Settings) -> BackendOptions:
        def pick(name: str, default: Any) -> Any:
            value = flags.get(name)
            return value if value is not None else settings.api.get(name, default)

        return BackendOptions(sandbox_path(flags.get("sandbox")), rate_limit=pick("rate_limit", None),
                              concurrency=int(pick("concurrency", 4)), timeout=float(pick("timeout", 30.0)),
                              connection=flags.get("connection") or settings.membrane.get("connection"),
                              membrane=dict(settings.membrane))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_: Any) -> None:
        self.client.close()


def kinds_needed(config: Configuration) -> set[Kind]:
    """The four core kinds, plus divisions and employment types when the configuration uses them
    (reading them needs a ClickTime module some accounts lack)."""
    kinds = set(CORE_KINDS)
    for optional, field in ((Kind.DIVISION, "division"), (Kind.EMPLOYMENT_TYPE, "employment_type")):
        if config.desired.objects[optional] or any(field in u.fields for u in config.desired.objects[Kind.USER].values()):
            kinds.add(optional)
    return kinds


def assignments_needed(config: Configuration) -> dict[Key, set[str]]:
    return {key: set(job.assignments) for key, job in config.desired.objects[Kind.JOB].items()
            if job.assignments and not job.absent}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def main() -> None:
    """GitOps for ClickTime: validate YAML, plan the difference to the live account, apply it."""


@main.command()
@click.option("--from", "csv_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV file with a header row.")
@click.option("--kind", type=click.Choice(["jobs", "clients", "users", "tasks"]), required=True)
@click.option("--template", default=None, help="Job template every scaffolded job starts from.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write <csv name>.yaml into.")
@handle_errors
def scaffold(csv_path: Path, kind: str, template: str | None, out: Path) -> None:
    """Turn a spreadsheet export into configuration YAML."""
    target = out / f"{csv_path.stem}.yaml"
    if target.exists():
        raise ReconcilerError(f"{target} exists; remove it or choose another --out")
    result = make_scaffold(csv_path, KIND_BY_SECTION[kind], template)
    path = write_scaffold(result, csv_path, out)
    click.echo(f"wrote {path} ({result.count} {kind})")


@main.command(name="render")
@config_dir
@handle_errors
def render_command(directory: Path) -> None:
    """Print the configuration with defaults, templates and ${VARIABLES} expanded."""
    config = load_configuration(directory)
    click.echo(render_expanded(config.desired), nl=False)


@main.command()
@config_dir
@handle_errors
def validate(directory: Path) -> None:
    """Check the configuration (schema and references) without contacting any backend."""
    config = load_configuration(directory, require_declared=True)
    count = sum(len(objs) for objs in config.desired.objects.values())
    click.echo(f"{directory}: valid ({len(config.files)} file(s), {count} object(s)).")


def report_calls(client: ClickTimeClient) -> None:
    retried = f", {client.retries} retried" if client.retries else ""
    click.echo(f"({client.calls} API call(s){retried})", err=True)


def planned(config: Configuration, session: Session) -> tuple[Plan, LiveState]:
    """Read the account and plan against it, with the blast radius of destructive changes."""
    live = fetch_live(session.client, assignments_needed(config), kinds=kinds_needed(config))
    the_plan = annotate_impact(session.client, build_plan(config, live, session.backend), live, dt.date.today())
    return the_plan, live


def show_plan(the_plan: Plan, fmt: str, redact: bool, split_to: Path | None) -> None:
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


render_options = [
    click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                  show_default=True),
    click.option("--redact", is_flag=True, help="Mask emails and personal or billing values (for public comments)."),
    click.option("--split-to", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Write the rendering as DIR/plan-N.md files, each fit for one GitHub comment (65,536 "
                      "characters), and print their paths."),
]


def with_render_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(render_options):
        command = option(command)
    return command


@main.command()
@config_dir
@backend_options
@with_render_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan for `apply --plan`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors.")
@handle_errors
def plan(directory: Path, fmt: str, redact: bool, split_to: Path | None, out: Path | None, detailed_exitcode: bool,
         **flags: Any) -> None:
    """Show what apply would change. Read-only."""
    config = load_configuration(directory)
    with Session(flags, config.settings) as session:
        the_plan, _ = planned(config, session)
        report_calls(session.client)
    show_plan(the_plan, fmt, redact, split_to)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(the_plan.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        click.echo(f"Plan saved to {out}.", err=True)
    if detailed_exitcode and not the_plan.empty:
        sys.exit(EXIT_CHANGES)


@main.command()
@config_dir
@backend_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "yaml-patch"]), default="text",
              show_default=True, help="yaml-patch: a diff to the configuration that adopts the live values.")
@click.option("--redact", is_flag=True, help="Mask emails and personal or billing values.")
@handle_errors
def drift(directory: Path, fmt: str, redact: bool, **flags: Any) -> None:
    """Read-only check for a schedule: exit 2 when the account differs from the configuration."""
    config = load_configuration(directory)
    with Session(flags, config.settings) as session:
        the_plan, live = planned(config, session)
    if fmt == "yaml-patch":
        click.echo(yaml_patch(the_plan, config, live), nl=False)
    else:
        show_plan(the_plan, fmt, redact, None)
    if not the_plan.empty:
        click.echo(f"Drift: {summary_line(the_plan)}", err=True)
        sys.exit(EXIT_CHANGES)


def confirm_or_refuse(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ReconcilerError("refusing to apply without confirmation: no terminal to ask on; pass --yes")
    if not click.confirm("Apply these changes?", default=False):
        raise ReconcilerError("apply cancelled; nothing was changed")


def run_apply(session: Session, the_plan: Plan, live: LiveState, yes: bool, settings: Settings, force: bool,
              allow_delete: bool, resume: JournalState | None = None) -> None:
    """Show the plan, check guard rails, confirm, then apply under the lock with a journal."""
    click.echo(render(the_plan, "text", color=use_color()), nl=False)
    pending = [i for i in range(len(the_plan.changes)) if not resume or resume.events.get(i) != "done"]
    if not pending:
        if resume:
            finish_journal(resume)
        return
    refusals = guard_rail_refusals(the_plan, settings, allow_delete)
    forced = [r for r in refusals if "--allow-delete" not in r] if force else []
    blocking = [r for r in refusals if r not in forced]
    for reason in forced:
        click.echo(f"guard rail overridden by --force: {reason}", err=True)
    if blocking:
        raise PlanRefused("apply refused by guard rails:\n  " + "\n  ".join(blocking))
    confirm_or_refuse(yes)
    style = Styler(use_color())

    def report(event: str, change: Change, detail: str) -> None:
        line = change_lines(change, style)[0].lstrip()
        click.echo(f"  {event}: {line}" + (f" ({detail})" if detail else ""), err=event != "applied")

    with ApplyLock(state_dir() / "apply.lock"):
        if resume is None:
            for path in abandon_unfinished():
                click.echo(f"note: superseding the interrupted apply journalled in {path}", err=True)
            journal = Journal.create(the_plan)
        else:
            journal = Journal(resume.path)
            journal.write({"event": "resume"})
        applier = Applier(session.client, live, report, journal, resume.events if resume else None,
                          the_plan.ids)
        try:
            outcome = applier.apply(the_plan)
        except BaseException:  # failures, Ctrl-C: `apply --resume` continues from the journal
            journal.close(finished=False)
            raise
        journal.close(finished=True)
    click.echo(f"Apply complete: {len(outcome.applied)} change(s) applied.")
    report_calls(session.client)


def finish_journal(state: JournalState) -> None:
    journal = Journal(state.path)
    journal.close(finished=True)


def load_saved_plan(plan_file: Path) -> Plan:
    try:
        return Plan.from_json(json.loads(plan_file.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as error:
        raise ReconcilerError(f"{plan_file}: not a plan file this version can read ({error})")


def check_saved_plan(saved: Plan, live: LiveState, label: str) -> None:
    current = touched_fingerprints(saved.changes, live)
    drifted = sorted(k for k, v in saved.fingerprints.items() if current.get(k) != v)
    if drifted:
        raise PlanRefused(f"{label}: the account changed since the plan was made; these objects differ: "
                          f"{', '.join(drifted)}. Make a new plan.")


@main.command()
@config_dir
@backend_options
@click.option("--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Apply exactly this saved plan (refused if the account or the configuration changed since).")
@click.option("--resume", is_flag=True, help="Continue the last interrupted apply without repeating its writes.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Override the guard-rail thresholds, and a plan made from another "
                                            "configuration than the one in DIR.")
@click.option("--allow-delete", is_flag=True, help="Allow the hard deletes that tombstones (absent: true) ask for.")
@handle_errors
def apply(directory: Path, plan_file: Path | None, resume: bool, yes: bool, force: bool, allow_delete: bool,
          **flags: Any) -> None:
    """Apply the configuration to the account (shows the plan and asks first)."""
    config = load_configuration(directory)
    if resume:
        state = latest_unfinished()
        if state is None:
            raise ReconcilerError(f"nothing to resume: no interrupted apply is journalled in {state_dir() / 'journal'}")
        click.echo(f"Resuming the apply journalled in {state.path}", err=True)
        with Session({**flags, "backend": flags.get("backend") or state.plan.backend}, config.settings) as session:
            live = fetch_touched(session.client, state.plan)
            run_apply(session, state.plan, live, yes, config.settings, force, allow_delete, resume=state)
        return
    if plan_file is None:
        with Session(flags, config.settings) as session:
            the_plan, live = planned(config, session)
            run_apply(session, the_plan, live, yes, config.settings, force, allow_delete)
        return
    saved = load_saved_plan(plan_file)
    if saved.config_checksum != config.checksum:
        message = (f"{plan_file} was made from a different configuration than the one in {directory}; "
                   "make a new plan")
        if not force:
            raise PlanRefused(message + " (or pass --force)")
        click.echo(f"warning: {message}; applying it anyway (--force)", err=True)
    with Session({**flags, "backend": flags.get("backend") or saved.backend}, config.settings) as session:
        live = fetch_touched(session.client, saved)
        check_saved_plan(saved, live, str(plan_file))
        run_apply(session, saved, live, yes, config.settings, force, allow_delete)


@main.command(name="import")
@backend_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Directory to write the configuration into.")
@click.option("--force", is_flag=True, help="Write even if the directory already holds YAML files.")
@click.option("--kinds", default=None, metavar="LIST",
              help="Comma-separated kinds to import (clients,jobs,tasks,users,divisions,employment_types).")
@click.option("--match", default=None, metavar="GLOB", help="Import only objects whose key matches (jobs: CLIENT/NUMBER).")
@click.option("--all-fields", is_flag=True, help="Keep fields that equal ClickTime's defaults.")
@click.option("--active-only", is_flag=True, help="Leave inactive objects out.")
@handle_errors
def import_(out: Path, force: bool, kinds: str | None, match: str | None, all_fields: bool, active_only: bool,
            **flags: Any) -> None:
    """Write the live account as a configuration directory that plans to no changes."""
    chosen = set(KINDS)
    if kinds:
        by_section = {k.section: k for k in KINDS}
        unknown = [k for k in kinds.split(",") if k.strip() not in by_section]
        if unknown:
            raise ReconcilerError(f"--kinds: unknown kind(s) {', '.join(unknown)}; known: {', '.join(by_section)}")
        chosen = {by_section[k.strip()] for k in kinds.split(",")}
    existing = discover(out) if out.is_dir() else []
    if existing and not force:
        raise ReconcilerError(f"{out} already holds {len(existing)} YAML file(s) ({existing[0].relative_to(out)}, "
                              "...); choose an empty directory or pass --force")
    with Session(flags) as session:
        readable = [k for k in KINDS if k in CORE_KINDS or k in chosen]
        live = fetch_live(session.client, all_assignments=Kind.JOB in chosen, kinds=readable)
        defaults = {k: session.client.request("GET", f"/{k.collection}/new")["data"] for k in chosen}
    options = ImportOptions(frozenset(chosen), match, all_fields, active_only, defaults)
    for path in write_export(live, out, options):
        click.echo(f"wrote {path}")
    for kind, count in live.unkeyed.items():
        click.echo(f"warning: {count} {kind.section} without a client were not imported (they have no natural key); "
                   "they stay as they are and plans leave them alone", err=True)


@main.command()
@config_dir
@backend_options
@handle_errors
def doctor(directory: Path, **flags: Any) -> None:
    """Check the backend end to end and say what is wrong and how to fix it."""
    from reconciler.doctor import run_doctor

    settings = load_configuration(directory).settings if (directory / "reconciler.yaml").is_file() else Settings()
    checks = run_doctor(Session.options_from(flags, settings), Session.backend_from(flags, settings))
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok and check.fix:
            click.echo(f"       fix: {check.fix}")
    if not all(check.ok for check in checks):
        sys.exit(EXIT_ERROR)


@main.group()
def sandbox() -> None:
    """Manage the embedded sandbox account."""


def sandbox_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--sandbox", "sandbox_file", metavar="PATH", default=None,
                        help="Sandbox database (default: $RECONCILER_SANDBOX or .reconciler/sandbox.sqlite3).")(command)


@sandbox.command()
@sandbox_option
@handle_errors
def reset(sandbox_file: str | None) -> None:
    """Start over with a fresh account: company settings, owner, and the nine default tasks."""
    path = sandbox_path(sandbox_file)
    emulator = Emulator.open(str(path))
    try:
        emulator.reset()
    finally:
        emulator.close()
    click.echo(f"Sandbox at {path} reset to a new account.")


@sandbox.command()
@sandbox_option
@handle_errors
def show(sandbox_file: str | None) -> None:
    """Summarise what the sandbox account holds."""
    path = sandbox_path(sandbox_file)
    emulator = Emulator.open(str(path))
    try:
        info: Mapping[str, Any] = emulator.summary()
    finally:
        emulator.close()
    click.echo(f"Sandbox: {path}")
    click.echo(f"Company: {info['company'].get('Name')} (JobRestrictionMethod={info['company'].get('JobRestrictionMethod')}, "
               f"TaskRestrictionMethod={info['company'].get('TaskRestrictionMethod')})")
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
@handle_errors
def serve(sandbox_file: str | None, host: str, port: int, latency_ms: float, rate_limit: float | None,
          max_page_size: int | None, fault_rate: float, seed: int | None, slow_seconds: float,
          token: str | None) -> None:
    """Serve the sandbox account over HTTP as ClickTime's REST API v2 (for the clicktime backend)."""
    from reconciler.sandbox.server import DEFAULT_TOKEN, EmulatorServer, Knobs

    knobs = Knobs(latency_ms, rate_limit, max_page_size, fault_rate, seed, slow_seconds, token or DEFAULT_TOKEN)
    server = EmulatorServer(Emulator.open(str(sandbox_path(sandbox_file))), host, port, knobs)
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
