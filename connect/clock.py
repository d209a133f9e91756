"""The one source of "now" (naive UTC), so tests can move time."""

from datetime import UTC, datetime


def now():
    """Current time as naive UTC, the form stored in both databases."""
    return datetime.now(UTC).replace(tzinfo=None)


def isoformat(value):
    """Render a stored naive-UTC datetime as ISO 8601 with a Z suffix."""
    return None if value is None else value.isoformat(timespec="seconds") + "Z"
