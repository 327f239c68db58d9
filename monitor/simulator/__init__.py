"""A local stand-in for the platforms (server, platforms/) replaying the bundled corpus.

Never imported on the collection path (an import-linter contract in pyproject.toml)."""
