"""The schemas ship inside the wheel, so a plain `pip install .` has them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_wheel_contains_schemas_and_entry_point(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, cwd=tmp_path)
    [wheel] = tmp_path.glob("clicktime_reconciler-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "reconciler/schemas/config.schema.json" in names
    assert "reconciler/schemas/settings.schema.json" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "reconciler = reconciler.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("reconciler, version ")
