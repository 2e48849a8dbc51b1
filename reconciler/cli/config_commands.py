"""Commands on the configuration alone, without any backend: validate, render, schema, scaffold."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli.app import EXIT_ERROR
from reconciler.cli.options import config_dir
from reconciler.errors import ConfigError, ReconcilerError


@click.command()
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


@click.command(name="render")
@config_dir
def render_command(directory: Path) -> None:
    """Print the configuration with defaults, templates and ${VARIABLES} expanded."""
    from reconciler.config.loader import load_configuration
    from reconciler.render.expanded import render_expanded

    click.echo(render_expanded(load_configuration(directory).desired), nl=False)


@click.command()
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


@click.command()
@click.argument("name", type=click.Choice(["config", "settings"]), default="config")
def schema(name: str) -> None:
    """Print a JSON Schema: config (the configuration files) or settings (reconciler.yaml)."""
    from reconciler.config.schema import load_schema

    click.echo(json.dumps(load_schema(f"{name}.schema.json"), indent=2, ensure_ascii=False))
