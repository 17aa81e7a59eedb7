"""Fit station-supplied strings into their columns.

PostgreSQL refuses a string longer than its VARCHAR (SQLite stores it anyway). Schema checks keep
most over-long values out, but the lenient validation policy and answers to our own calls (checked,
not refused) let them through; cutting them keeps both databases storing the same thing instead of
failing the station's message. The full frame stays in the message log."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import String, Table


@cache
def _limits(table: Table) -> tuple[tuple[str, int], ...]:
    return tuple(
        (c.name, c.type.length)
        for c in table.columns
        if isinstance(c.type, String) and c.type.length is not None
    )


def clip(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with over-long strings cut; the same dict when nothing is too long (hot path)."""
    out = values
    # Only the columns with a length (a row's other values are never looked at).
    for name, length in _limits(table):
        value = values.get(name)
        if isinstance(value, str) and len(value) > length:
            if out is values:
                out = dict(values)
            out[name] = value[:length]
    return out


def clip_rows(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [clip(table, row) for row in rows]
