"""The audit trail of operator commands (domain/audit.py writes it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables_auth import audit_log


async def list_entries(
    conn: AsyncConnection,
    *,
    station_id: str | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    before_time: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if station_id is not None:
        query = query.where(audit_log.c.station_id == station_id)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    if before_time is not None:
        query = query.where(audit_log.c.created_at < before_time)
    return [dict(r._mapping) for r in await conn.execute(query)]
