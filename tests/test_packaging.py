"""What `pip install` gets: the sdist holds the sources, examples and schemas; the wheel built
from that sdist holds every module, the schemas, py.typed, the licence and the entry point; every
module imports where fcntl does not exist (Windows)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from conftest import REPO


def build(tmp_path: Path) -> tuple[Path, Path]:
    """The sdist, then the wheel built from it (so the sdist is shown to be complete)."""
    script = f"from setuptools import build_meta; build_meta.build_sdist({str(tmp_path)!r})"
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO, capture_output=True)
    [sdist] = tmp_path.glob("clicktime_reconciler-*.tar.gz")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(sdist)], check=True, cwd=tmp_path)
    [wheel] = tmp_path.glob("clicktime_reconciler-*.whl")
    return sdist, wheel


def source_modules() -> set[str]:
    return {path.relative_to(REPO).as_posix() for path in (REPO / "reconciler").rglob("*.py")}


def test_sdist_and_wheel(tmp_path: Path) -> None:
    sdist, wheel = build(tmp_path)
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for required in ("LICENSE", "README.md", "pyproject.toml", "schemas/config.schema.json",
                     "schemas/settings.schema.json", "examples/github-actions/clicktime-plan.yml",
                     "examples/github-actions/clicktime-apply.yml", "examples/github-actions/clicktime-drift.yml",
                     "examples/agency/reconciler.yaml", "reconciler/py.typed"):
        assert required in in_sdist, required

    names = set(zipfile.ZipFile(wheel).namelist())
    assert source_modules() <= names, sorted(source_modules() - names)
    assert {"reconciler/py.typed", "reconciler/schemas/config.schema.json",
            "reconciler/schemas/settings.schema.json"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "reconciler = reconciler.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata
    assert "Classifier: Typing :: Typed" in metadata and "Project-URL: Source, https://github.com/" in metadata
    assert "Requires-Dist: filelock" in metadata


def test_every_module_imports_without_fcntl() -> None:
    probe = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['fcntl'] = None  # as on Windows: `import fcntl` raises ImportError\n"
        "import reconciler\n"
        "names = [m.name for m in pkgutil.walk_packages(reconciler.__path__, 'reconciler.')\n"
        "         if m.name != 'reconciler.__main__']  # it runs the command line\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(source_modules()) - 2  # all but __init__.py and __main__.py of the top


def test_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("reconciler, version ")
