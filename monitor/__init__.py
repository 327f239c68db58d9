"""reaction-monitor: watch how people react to a news story on social media."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["QueryError", "StoreReader", "StoreSchemaError", "__version__", "open_store"]

if TYPE_CHECKING:
    from monitor.outputs.api import QueryError, StoreReader, StoreSchemaError, open_store

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    """The read API (`monitor.open_store` and its types) on first use: the CLI imports this
    package and must not pay for polars."""
    if name in _API:
        from monitor.outputs import api

        return getattr(api, name)
    raise AttributeError(f"module 'monitor' has no attribute {name!r}")
