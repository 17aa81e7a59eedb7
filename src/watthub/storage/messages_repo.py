"""The per-station OCPP message log, and lenient-validation events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables import message_log, validation_events
from watthub.timeutil import utcnow


def station_messages(
    station_id: str,
    *,
    limit: int = 200,
    before_id: int | None = None,
    after_id: int | None = None,
    action: str | None = None,
    direction: str | None = None,
) -> Select[Any]:
    """The rows :func:`list_messages` reads: newest first, through the (station_id, id) index
    (migration 0591)."""
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
    return stmt.order_by(c.id.desc()).limit(limit + 1)


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
    query = station_messages(
        station_id,
        limit=limit,
        before_id=before_id,
        after_id=after_id,
        action=action,
        direction=direction,
    )
    result = await conn.execute(query)
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


async def purge_boundary(conn: AsyncConnection, cutoff: datetime) -> tuple[int, int] | None:
    """The range of message-log ids to purge: from the first id to the largest one stored before
    ``cutoff`` (None: nothing that old).

    Found by bisecting the primary key, about 40 index look-ups: ids grow with time (a row is
    written when its exchange is answered, seconds at most after it was received), and the log
    has no index on time alone. ``DELETE … WHERE created_at < cutoff`` read the whole table
    every hour: a 30-day log of a busy network is tens of millions of rows, and the writer (on
    SQLite, the event loop) was held for the whole scan."""
    old = (message_log.c.created_at < cutoff).label("old")
    by_id = message_log.c.id

    async def first_from(start: int | None) -> Any:
        query = select(by_id, old).order_by(by_id).limit(1)
        if start is not None:
            query = query.where(by_id >= start)
        return (await conn.execute(query)).first()

    first = await first_from(None)
    if first is None or not first.old:
        return None
    lo: int = first.id  # a row stored before the cutoff
    hi: int = (await conn.execute(select(func.max(by_id)))).scalar_one()
    while lo < hi:
        middle = (lo + hi + 1) // 2
        row = await first_from(middle)
        if row is not None and row.old:
            lo = row.id
        else:
            hi = middle - 1
    return first.id, lo


async def purge_chunk(conn: AsyncConnection, start: int, stop: int, cutoff: datetime) -> int:
    """Delete the rows with ids ``start``..``stop`` received before ``cutoff``: a range of the
    primary key, so one writer batch stays short whatever the size of the log. (A row answered
    late can sit among older ones; the time condition keeps it, and any younger neighbour.)"""
    result = await conn.execute(
        delete(message_log).where(
            message_log.c.id >= start, message_log.c.id <= stop, message_log.c.created_at < cutoff
        )
    )
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
