"""The formulas a reader is pointed to exist in the project, and every place that shows numbers points there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_metrics_document_is_in_the_project_and_pointed_to():
    doc = ROOT / "docs" / "metrics.md"
    text = doc.read_text(encoding="utf-8")
    for section in ("## 1. Scoring a post", "EARS", "EWMA", "Wilson"):
        assert section in text
    pointers = {
        "README": ROOT / "README.md",
        "help screen": next(ROOT.glob("monitor/**/screens/help.py")),
        "Markdown digest": ROOT / "monitor" / "data" / "digest.md.j2",
        "HTML digest": ROOT / "monitor" / "data" / "digest.html.j2",
    }
    missing = [
        name
        for name, path in pointers.items()
        if "docs/metrics.md" not in path.read_text(encoding="utf-8")
    ]
    assert not missing, f"no pointer to docs/metrics.md in: {missing}"


def test_every_subcommand_is_in_the_readme():
    """A command a user can run but cannot read about is a command nobody finds."""
    from monitor.cli import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = [a for a in parser._subparsers._group_actions[0].choices]  # type: ignore[union-attr]
    missing = [c for c in commands if not re.search(rf"`monitor {re.escape(c)}\b", readme)]
    assert not missing, f"commands missing from README.md: {missing}"


DOCS = ("README.md", "CONTRIBUTING.md", "docs/architecture.md", "docs/decisions.md")


def test_every_path_the_docs_name_exists():
    """A newcomer follows these paths first; a moved module must not leave the docs pointing nowhere."""
    named = re.compile(r"`((?:monitor|tests|benchmarks|docs)/[\w/.<>*{},-]+)")
    missing = []
    for doc in DOCS:
        for path in named.findall((ROOT / doc).read_text(encoding="utf-8")):
            path = path.rstrip(".")
            if "<" in path or "{" in path:  # a placeholder: monitor/sources/<platform>.py
                continue
            if not (any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
                missing.append(f"{doc}: {path}")
    assert not missing, "paths named in the docs that do not exist:\n" + "\n".join(missing)


def test_the_architecture_shows_every_package_and_table():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(
        p.parent.name for p in (ROOT / "monitor").glob("*/__init__.py") if p.parent.name != "data"
    )
    tree = text[text.index("## The tree") :]
    missing = [p for p in packages if not re.search(rf"^\s+{p}/", tree, re.M)]
    assert not missing, f"packages missing from the tree in docs/architecture.md: {missing}"

    from sqlmodel import SQLModel

    import monitor.store.models  # noqa: F401  (registers the tables)

    tables = sorted(SQLModel.metadata.tables)
    undocumented = [t for t in tables if f"| `{t}` |" not in text]
    assert not undocumented, f"tables missing from docs/architecture.md: {undocumented}"
