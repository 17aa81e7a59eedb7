"""OCPP 1.6 timestamp helpers.

OCPP 1.6 JSON carries ISO 8601 strings. Stations send every flavour (``Z``, ``+00:00``, no
fraction, microseconds, and — sadly — no offset at all), so parsing is lenient while formatting is
strict: UTC, millisecond precision, trailing ``Z``. That is the form most stations parse reliably.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_ocpp_datetime", "parse_ocpp_datetime"]


def parse_ocpp_datetime(s: str) -> datetime:
    """Parse an OCPP timestamp into a timezone-aware UTC datetime.

    A string without an offset is taken as UTC (OCPP requires UTC; stations that omit the
    designator mean it). Raises ``ValueError`` for anything that is not ISO 8601.
    """
    if not isinstance(s, str):
        raise ValueError(f"timestamp must be a string, got {type(s).__name__}")
    text = s.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_ocpp_datetime(dt: datetime) -> str:
    """Format as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC; naive datetimes are rejected."""
    if dt.tzinfo is None:
        # A naive datetime is ambiguous; guessing would silently shift schedules by hours.
        raise ValueError("naive datetime; use a timezone-aware (UTC) datetime")
    utc = dt.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
