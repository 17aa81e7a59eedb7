"""OCPP 1.6 timestamp helpers for schedules.

Parsing is lenient (``Z``, offsets, no fraction, no offset at all = UTC) and shared with the rest of
WattHub (``watthub.timeutil``); formatting is strict here: a naive datetime is refused, because
guessing its zone would silently shift a schedule by hours.
"""

from __future__ import annotations

from datetime import datetime

from watthub.timeutil import format_ts, parse_ts

__all__ = ["format_ocpp_datetime", "parse_ocpp_datetime"]


def parse_ocpp_datetime(s: str) -> datetime:
    """Parse an OCPP timestamp into a timezone-aware UTC datetime (``ValueError`` if not ISO 8601)."""
    if not isinstance(s, str):
        raise ValueError(f"timestamp must be a string, got {type(s).__name__}")
    return parse_ts(s)


def format_ocpp_datetime(dt: datetime) -> str:
    """Format as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC; naive datetimes are rejected."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime; use a timezone-aware (UTC) datetime")
    return format_ts(dt)
