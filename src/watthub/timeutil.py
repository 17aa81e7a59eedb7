"""UTC time helpers. Every timestamp WattHub sends is ISO 8601 UTC with milliseconds and ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(dt: datetime) -> str:
    """``2026-11-25T09:08:30.123Z`` — OCTT expects milliseconds; naive datetimes are taken as UTC."""
    # isoformat truncates to milliseconds as before, at ~2/3 of the strftime version's cost.
    if dt.tzinfo is not None:
        if dt.tzinfo is not UTC:
            dt = dt.astimezone(UTC)
        dt = dt.replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds") + "Z"


def now_ts() -> str:
    return format_ts(utcnow())


def parse_ts(value: str) -> datetime:
    """Parse an OCPP timestamp: fractional seconds and any offset are allowed (spec §3.15)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_ts_or_none(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_ts(value)
    except ValueError:
        return None


def as_utc(dt: datetime | None) -> datetime | None:
    """Databases (SQLite) may hand back naive datetimes; they are stored in UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
