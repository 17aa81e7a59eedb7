"""The per-station OCPP message log, and lenient-validation events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.clip import clip_rows
from watthub.storage.tables import message_log, validation_events
from watthub.timeutil import utcnow


async def insert_messages(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(message_log.insert(), clip_rows(message_log, rows))


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
    stmt = select(message_log).where(message_log.c.station_id == station_id)
    if before_id is not None:
        stmt = stmt.where(message_log.c.id < before_id)
    if after_id is not None:
        stmt = stmt.where(message_log.c.id > after_id)
    if direction is not None:
        stmt = stmt.where(message_log.c.direction == direction)
    if action is not None:
        stmt = stmt.where(message_log.c.action == action)
    result = await conn.execute(stmt.order_by(message_log.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in result]


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
