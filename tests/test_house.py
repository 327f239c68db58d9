"""The house rules a reviewer would otherwise enforce by hand, run as tests so CI enforces them.

ruff (format, and lint E/F/I/B/UP) and mypy are configured in pyproject.toml; the import
contracts live in tests/test_architecture.py. Each test prints the tool's own findings, so a
failure reads like running the tool.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_lint_is_clean():
    done = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    done = _run("ruff", "format", "--no-cache", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing_in_the_package():
    """The configuration ([tool.mypy]) checks monitor/; a new error fails here with mypy's own line."""
    done = _run("mypy", "--no-incremental")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_wheel_ships_the_type_marker_and_the_data_it_reads(tmp_path):
    """An editable install sees the whole tree, so only a built wheel shows what a user gets:
    without py.typed a user's type checker treats the API as untyped, and without the templates,
    corpus and migrations `monitor demo`, digests and `db upgrade` fail on a clean install."""
    # Built from a copy: setuptools leaves build/ and *.egg-info in the tree it builds, and a stale
    # egg-info SOURCES.txt would put files in the wheel that package-data no longer names.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", "build", "*.egg-info", "storage", "__pycache__", ".*_cache", ".venv*"
        ),
    )
    done = _run(
        "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
        "-w", str(tmp_path), str(source),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("reaction_monitor-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for shipped in (
        "monitor/py.typed",
        "monitor/data/corpus.jsonl.gz",
        "monitor/data/digest.html.j2",
        "monitor/data/dashboard.tcss",
        "monitor/store/migrations/env.py",
    ):
        assert shipped in names, f"{shipped} is missing from {wheel.name}"
    assert any(n.startswith("monitor/store/migrations/versions/") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/", "storage/")) for n in names)
