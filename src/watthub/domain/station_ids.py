"""What a station identity (the chargePointId in ``ws://…/ocpp/{id}``) may be.

Refused, with the reason, wherever an identity enters WattHub (API, CLI, auto-registration at
the WebSocket handshake): control characters (a NUL cannot be stored on PostgreSQL; a newline or
an ANSI escape forges log lines), surrounding whitespace (``CP1 `` would be a second ``CP1``
nobody can tell apart), ``/`` (it cannot be in the URL path), and ids made only of dots (``.``
and ``..`` are path segments every URL library resolves away)."""

from __future__ import annotations

import re

MAX_LENGTH = 255
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def problem(station_id: str) -> str | None:
    """Why ``station_id`` cannot identify a station, or ``None`` when it can."""
    if not 1 <= len(station_id) <= MAX_LENGTH:
        return f"a station id has 1 to {MAX_LENGTH} characters"
    if _CONTROL.search(station_id):
        return "a station id must not contain control characters"
    if station_id != station_id.strip():
        return "a station id must not begin or end with whitespace"
    if "/" in station_id:
        return "a station id must not contain '/'"
    if not station_id.strip("."):
        return "a station id must not consist of dots only"
    return None
