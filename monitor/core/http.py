"""HTTP details every outgoing request shares, whether a source polls or a digest is delivered.

Kept apart from monitor/sources/http.py (the polling client, its deadline and redirect rules),
so that delivery does not reach into the sources for them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

USER_AGENT = "reaction-monitor/0.1 (+https://github.com/reaction-monitor/reaction-monitor)"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
