"""Fit station-supplied strings into their columns.

PostgreSQL refuses a string longer than its VARCHAR (SQLite stores it anyway). Schema checks keep
most over-long values out, but the lenient validation policy and answers to our own calls (checked,
not refused) let them through; cutting them keeps both databases storing the same thing instead of
failing the station's message. The full frame stays in the message log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Table


def clip(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        column = table.c.get(name)
        if column is None or not isinstance(column.type, String):
            continue
        length = column.type.length
        if length is not None and len(value) > length:
            out[name] = value[:length]
    return out


def clip_rows(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [clip(table, row) for row in rows]
