"""Every third-party module the package, its tests and benchmarks import comes from a declared dependency.

A module installed by hand on a development machine makes the suite pass there and fail on a fresh
machine (it happened: `cryptography` in tests/test_deliver.py). CI installs into a fresh virtual
environment, and this test says which import is missing and where, instead of an ImportError deep in
one test.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("monitor", "tests", "benchmarks")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    """The declared names (every extra too) and what they require on this Python, transitively,
    with only the extras that were asked for (psycopg[binary] brings psycopg-binary, not psycopg-pool)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project.get("dependencies", [])]
    for reqs in project.get("optional-dependencies", {}).values():
        todo += [Requirement(r) for r in reqs]
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        for extra in ("", *sorted(req.extras)):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            names.add(name)
            try:
                requires = md.requires(name) or []
            except md.PackageNotFoundError:
                continue
            for line in requires:
                sub = Requirement(line)
                if sub.marker is None or sub.marker.evaluate({"extra": extra}):
                    todo.append(sub)
    return names


def third_party_imports() -> dict[str, list[str]]:
    """Top-level module -> the places (file:line) that import it, for modules that are neither
    the standard library nor the project's own."""
    own = {"monitor", "tests", "benchmarks", "conftest"}
    own |= {p.stem for p in (ROOT / "tests").glob("*.py")}
    own |= {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    found: dict[str, list[str]] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in own:
                        continue
                    found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_third_party_import_is_declared() -> None:
    declared = declared_distributions()
    providers = md.packages_distributions()
    missing = []
    for module, places in sorted(third_party_imports().items()):
        # A module of an extra that is not installed here (the benchmarks' own) is known by its name.
        dists = {_norm(d) for d in providers.get(module, [module])}
        if not dists & declared:
            where = ", ".join(places[:3]) + (" …" if len(places) > 3 else "")
            missing.append(
                f"{module} (from {sorted(dists) or 'no installed distribution'}) at {where}"
            )
    assert not missing, "imports no declared dependency provides:\n" + "\n".join(missing)


def test_the_check_sees_a_missing_declaration() -> None:
    """The check itself can fail: a module nobody declares is reported."""
    providers = md.packages_distributions()
    assert "yaml" in third_party_imports()
    assert {_norm(d) for d in providers["yaml"]} & declared_distributions()
    assert (
        not {_norm(d) for d in providers.get("pytest_benchmark", ["pytest-benchmark"])}
        & declared_distributions()
    )
