"""The package's shape: the import contracts in pyproject.toml hold, and what the wheel ships exists.

A move that breaks either passes every behavioural test (editable installs see the whole tree), so
these checks are what keeps the layers of docs/decisions.md ("monitor/ follows the data path") true.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

CONTRACTS = {
    "Only monitor.ui imports Textual",
    "The commands reach Textual only through monitor.ui",
    "Nothing on the collection path imports the simulator",
    "monitor.core imports nothing else of the package",
    "The store knows no source",
    "Simulator platforms do not import the server",
    "The routing vocabulary imports neither server nor platforms",
    "Screens and widgets do not import the app",
    "The outputs do not import the dashboard",
    "The sources know no config",
}


def test_import_contracts_hold() -> None:
    """Every contract is declared and kept; a broken one shows the import chain that breaks it."""
    declared = {c["name"] for c in PYPROJECT["tool"]["importlinter"]["contracts"]}
    assert declared == CONTRACTS
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for name in CONTRACTS:
        assert f"{name} KEPT" in run.stdout, run.stdout


def test_package_data_globs_match_files() -> None:
    """A glob left behind by a move ships nothing and says nothing: each must match a file (py.typed too)."""
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["monitor"]
    assert "py.typed" in globs
    for pattern in globs:
        assert [p for p in (ROOT / "monitor").glob(pattern) if p.is_file()], pattern
    assert (ROOT / "monitor" / "store" / "migrations" / "env.py").is_file()
