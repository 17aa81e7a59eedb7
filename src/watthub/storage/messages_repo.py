"""The per-station OCPP message log, and lenient-validation events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables import message_log, validation_events
from watthub.timeutil import utcnow


async def list_messages(
    conn: AsyncConnection,
    station_id: str,
    *,
    limit: int = 200,
    before_id: int | None = None,
    after_id: int | None = None,
    action: str | None = None,
    direction: str | None = None,
) -> list[dict[str, Any]]:
    """One entry per frame, newest first. A row holding an exchange (a station's CALL and our
    answer) is listed as its two frames; entry ids are ``2·row id`` for a row's first frame and
    ``2·row id + 1`` for the answer, so ids stay unique, ordered and stable for
    ``before_id``/``after_id`` paging. Every row the query returns has at least one matching
    entry (the filters are exact per row), except the one row an ``after_id`` may cut in two:
    ``limit + 1`` rows always hold ``limit`` entries when there are that many."""
    c = message_log.c
    stmt = select(message_log).where(c.station_id == station_id)
    if before_id is not None:
        # Entries below before_id: rows whose first frame (2·id) is below it.
        stmt = stmt.where(c.id <= (before_id - 1) // 2)
    if after_id is not None:
        stmt = stmt.where(c.id >= after_id // 2)
    if direction is not None:
        # An exchange's answer goes the other way: an exchange row matches both directions.
        stmt = stmt.where(or_(c.direction == direction, c.answer_type.is_not(None)))
    if action is not None:
        stmt = stmt.where(c.action == action)  # a CALL and its answer share the action
    result = await conn.execute(stmt.order_by(c.id.desc()).limit(limit + 1))
    entries: list[dict[str, Any]] = []
    for r in result:
        row = r._mapping
        first = {
            "id": row["id"] * 2,
            "station_id": row["station_id"],
            "direction": row["direction"],
            "message_type": row["message_type"],
            "action": row["action"],
            "message_id": row["message_id"],
            "payload": row["payload"],
            "created_at": row["created_at"],
        }
        if row["answer_type"] is not None:
            answer = dict(
                first,
                id=first["id"] + 1,
                direction="out" if row["direction"] == "in" else "in",
                message_type=row["answer_type"],
                payload=row["answer_payload"],
                created_at=row["created_at"] + timedelta(microseconds=row["answer_delay_us"] or 0),
            )
            entries.append(answer)
        entries.append(first)
    return [
        e
        for e in entries
        if (direction is None or e["direction"] == direction)
        and (before_id is None or e["id"] < before_id)
        and (after_id is None or e["id"] > after_id)
    ][:limit]


async def purge_messages(conn: AsyncConnection, older_than_days: int) -> int:
    cutoff: datetime = utcnow() - timedelta(days=older_than_days)
    result = await conn.execute(delete(message_log).where(message_log.c.created_at < cutoff))
    return result.rowcount or 0


async def insert_validation_event(
    conn: AsyncConnection, station_id: str, action: str, error: str
) -> None:
    await conn.execute(
        validation_events.insert().values(
            station_id=station_id, action=action, error=error, created_at=utcnow()
        )
    )


async def list_validation_events(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(validation_events)
        .where(validation_events.c.station_id == station_id)
        .order_by(validation_events.c.id.desc())
        .limit(500)
    )
    return [dict(r._mapping) for r in result]
