"""reaction-monitor: watch how people react to a news story on social media."""

__version__ = "0.1.0"
__all__ = ["__version__"]
