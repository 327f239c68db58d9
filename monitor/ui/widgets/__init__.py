"""Widgets of the dashboard: the one chart widget, the top and status bars, keyed tables."""
