"""Commands that read the whole account: import (configuration from it) and doctor (checks and
the first-contact probe)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from reconciler.cli.app import EXIT_ERROR
from reconciler.cli.options import backend_options, config_dir, split_flags
from reconciler.cli.pipeline import session
from reconciler.errors import ReconcilerError


@click.command(name="import")
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
    """Write the live account as a configuration directory that plans to no changes.

    Settings come from OUT's reconciler.yaml when it has one; a new one names the backend read."""
    from reconciler import engine
    from reconciler.config.loader import load_settings

    options = engine.resolve_options(split_flags(kwargs), load_settings(out))
    with session(options) as client:
        result = engine.import_account(client, out, force, kinds, match, all_fields, active_only, options.backend)
    for path in result.written:
        click.echo(f"wrote {path}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command()
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
