"""Time: always timezone-aware UTC. Services take time from a clock so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 timestamp; a naive value is taken as UTC. Raises ValueError."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """Millisecond ISO-8601 in UTC with a ``Z`` suffix, the format tracking clients send."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"
