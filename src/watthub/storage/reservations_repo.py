"""Reservations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.prepared import Prepared
from watthub.storage.tables_reservation import reservations
from watthub.timeutil import utcnow


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


async def next_reservation_id(conn: AsyncConnection) -> int:
    # Called inside the single writer, so two operators never get the same id.
    result = await conn.execute(select(func.max(reservations.c.reservation_id)))
    return int(result.scalar() or 0) + 1


async def insert(conn: AsyncConnection, **values: Any) -> int:
    result = await conn.execute(
        reservations.insert().values(status="sent", created_at=utcnow(), **values)
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def latest(
    conn: AsyncConnection, station_id: str, reservation_id: int, statuses: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    query = select(reservations).where(
        reservations.c.station_id == station_id,
        reservations.c.reservation_id == reservation_id,
    )
    if statuses:
        query = query.where(reservations.c.status.in_(statuses))
    result = await conn.execute(query.order_by(reservations.c.id.desc()).limit(1))
    row = result.first()
    return dict(row._mapping) if row is not None else None


async def set_fields(conn: AsyncConnection, row_id: int, **values: Any) -> None:
    await conn.execute(update(reservations).where(reservations.c.id == row_id).values(**values))


async def replace_active(conn: AsyncConnection, station_id: str, reservation_id: int) -> None:
    """A ReserveNow reusing a reservationId replaces that reservation (spec §5.13)."""
    await conn.execute(
        update(reservations)
        .where(
            reservations.c.station_id == station_id,
            reservations.c.reservation_id == reservation_id,
            reservations.c.status.in_(("sent", "active")),
        )
        .values(status="replaced", ended_at=utcnow())
    )


# Asked on every StartTransaction: built once.
_ACTIVE_FOR = Prepared(
    select(reservations).where(
        reservations.c.station_id == bindparam("station_id"), reservations.c.status == "active"
    )
)


async def active_for(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    return await _ACTIVE_FOR.rows(conn, {"station_id": station_id})


async def expire_due(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
    # "sent" too: a ReserveNow whose answer never came may still hold the connector until then.
    result = await conn.execute(
        select(reservations).where(
            reservations.c.status.in_(("sent", "active")), reservations.c.expiry_date <= now
        )
    )
    due = _rows(result)
    if due:
        await conn.execute(
            update(reservations)
            .where(reservations.c.id.in_([r["id"] for r in due]))
            .values(status="expired", ended_at=now)
        )
    return due


async def next_expiry(conn: AsyncConnection) -> datetime | None:
    result = await conn.execute(
        select(func.min(reservations.c.expiry_date)).where(
            reservations.c.status.in_(("sent", "active"))
        )
    )
    return result.scalar()  # type: ignore[no-any-return]


async def list_reservations(
    conn: AsyncConnection, station_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    query = select(reservations)
    if station_id is not None:
        query = query.where(reservations.c.station_id == station_id)
    if status is not None:
        query = query.where(reservations.c.status == status)
    result = await conn.execute(query.order_by(reservations.c.id.desc()).limit(500))
    return _rows(result)


async def get(conn: AsyncConnection, row_id: int) -> dict[str, Any] | None:
    result = await conn.execute(select(reservations).where(reservations.c.id == row_id))
    row = result.first()
    return dict(row._mapping) if row is not None else None


async def stations_holding(conn: AsyncConnection) -> set[str]:
    """Stations with a reservation that may be in force (sent or active)."""
    result = await conn.execute(
        select(reservations.c.station_id)
        .where(reservations.c.status.in_(("sent", "active")))
        .distinct()
    )
    return {row[0] for row in result}
