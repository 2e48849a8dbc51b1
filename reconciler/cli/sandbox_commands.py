"""The embedded sandbox account: reset, profiles, show, serve."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click


@click.group()
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
                   "small-pages, absolute-links, decimals-as-strings, inactive-by-default, last-query-wins, "
                   "assignments-hide-inactive.")
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
