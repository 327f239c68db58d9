"""reaction-monitor: watch how people react to a news story on social media."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "open_store"]

if TYPE_CHECKING:
    from monitor.outputs.api import open_store


def __getattr__(name: str) -> Any:
    """`monitor.open_store` on first use: the CLI imports this package and must not pay for polars."""
    if name == "open_store":
        from monitor.outputs.api import open_store

        return open_store
    raise AttributeError(f"module 'monitor' has no attribute {name!r}")
