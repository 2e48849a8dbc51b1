"""Start-up imports only what a command uses: `--help`, shell completion and `validate` of a
valid configuration load no HTTP client, retry library, transport, deep-diff or schema library
(the shipped compiled schemas check the valid case; jsonschema only explains errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import BASIC, REPO, write_config

HEAVY = ("jsonschema", "fastjsonschema", "deepdiff", "httpx", "tenacity", "reconciler.clicktime.client",
         "reconciler.clicktime.http", "reconciler.clicktime.membrane", "reconciler.sandbox")
RUN = """
import json, os, sys
from reconciler.cli import main
try:
    main(sys.argv[1:], prog_name="reconciler")
except SystemExit:
    pass
print("\\nMODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules one CLI command leaves in sys.modules, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", **(env or {})})
    line = next(li for li in done.stderr.splitlines() if li.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_imports_nothing_heavy() -> None:
    modules = loaded("--help")
    assert heavy(modules) == []
    assert not any(m.startswith(("yaml", "reconciler.config", "reconciler.engine")) for m in modules)


def test_shell_completion_imports_nothing_heavy() -> None:
    modules = loaded(env={"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler pl", "COMP_CWORD": "1"})
    assert "click.shell_completion" in modules  # it did complete
    assert heavy(modules) == []


def test_validate_of_a_valid_configuration_imports_nothing_heavy(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config", BASIC)
    modules = loaded("validate", str(config))
    assert "reconciler.config.compiled_schemas" in modules  # it did check the schema
    assert heavy(modules) == []
    # only its own command module: plan, apply, import, doctor and sandbox code stay unloaded
    assert sorted(m for m in modules if m.startswith("reconciler.cli.")) == [
        "reconciler.cli.app", "reconciler.cli.config_commands", "reconciler.cli.options"]
    assert "reconciler.engine" not in modules


def test_validate_of_an_invalid_configuration_explains_with_jsonschema(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config", {"clients.yaml": "clients:\n  ACME: {name: 5}\n"})
    modules = loaded("validate", str(config))
    assert "jsonschema" in modules  # it explained the error
    assert "deepdiff" not in modules
