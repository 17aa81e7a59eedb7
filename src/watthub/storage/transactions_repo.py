"""Charging transactions and meter values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.clip import clip, clip_rows
from watthub.storage.tables import meter_values, stop_anomalies, transactions
from watthub.timeutil import as_utc, utcnow

# Hot-path statements are built once: building a statement per call (and its cache key) cost
# more than running it.
_INSERT = transactions.insert().returning(transactions.c.id)
_GET = select(transactions).where(transactions.c.id == bindparam("transaction_id"))
_OPEN_FOR_TAG = (
    select(transactions.c.id)
    .where(
        transactions.c.stop_time.is_(None), func.lower(transactions.c.id_tag) == bindparam("norm")
    )
    .limit(1)
)


async def insert_transaction(conn: AsyncConnection, **values: Any) -> int:
    result = await conn.execute(_INSERT, {"created_at": utcnow(), **clip(transactions, values)})
    return int(result.scalar_one())


async def get_transaction(conn: AsyncConnection, transaction_id: int) -> dict[str, Any] | None:
    result = await conn.execute(_GET, {"transaction_id": transaction_id})
    row = result.first()
    return dict(row._mapping) if row is not None else None


async def has_open_transaction_for_tag(conn: AsyncConnection, id_tag_norm: str) -> bool:
    result = await conn.execute(_OPEN_FOR_TAG, {"norm": id_tag_norm})
    return result.first() is not None


async def open_transactions(
    conn: AsyncConnection, station_id: str, connector_id: int | None = None
) -> list[dict[str, Any]]:
    stmt = select(transactions).where(
        transactions.c.station_id == station_id, transactions.c.stop_time.is_(None)
    )
    if connector_id is not None:
        stmt = stmt.where(transactions.c.connector_id == connector_id)
    result = await conn.execute(stmt.order_by(transactions.c.id))
    return [dict(r._mapping) for r in result]


_STOP = (
    update(transactions)
    .where(transactions.c.id == bindparam("tx_id"))
    .values(
        meter_stop=bindparam("meter_stop"),
        stop_time=bindparam("stop_time"),
        stop_reason=bindparam("stop_reason"),
        stop_id_tag=bindparam("stop_id_tag"),
        stop_received_at=bindparam("stop_received_at"),
    )
)


async def stop_transaction(
    conn: AsyncConnection,
    transaction_id: int,
    *,
    meter_stop: int,
    stop_time: datetime,
    stop_reason: str | None,
    stop_id_tag: str | None,
) -> None:
    values = clip(transactions, {"stop_reason": stop_reason, "stop_id_tag": stop_id_tag})
    await conn.execute(
        _STOP,
        {
            "tx_id": transaction_id,
            "meter_stop": meter_stop,
            "stop_time": stop_time,
            "stop_received_at": utcnow(),
            **values,
        },
    )


async def add_flag(conn: AsyncConnection, transaction_id: int, flag: str) -> None:
    current = await get_transaction(conn, transaction_id)
    if current is None:
        return
    flags = [f for f in current["flags"].split(",") if f]
    if flag not in flags:
        flags.append(flag)
    await conn.execute(
        update(transactions)
        .where(transactions.c.id == transaction_id)
        .values(flags=",".join(flags))
    )


async def record_stop_anomaly(
    conn: AsyncConnection,
    station_id: str,
    transaction_id: int,
    reason: str,
    payload: dict[str, Any],
) -> None:
    await conn.execute(
        stop_anomalies.insert().values(
            station_id=station_id,
            transaction_id=transaction_id,
            reason=reason,
            payload=payload,
            received_at=utcnow(),
        )
    )


async def insert_meter_values(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(meter_values.insert(), clip_rows(meter_values, rows))


async def list_transactions(
    conn: AsyncConnection,
    *,
    station_id: str | None = None,
    id_tag: str | None = None,
    active: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    stmt = select(transactions)
    if station_id is not None:
        stmt = stmt.where(transactions.c.station_id == station_id)
    if id_tag is not None:
        stmt = stmt.where(func.lower(transactions.c.id_tag) == id_tag.casefold())
    if active is True:
        stmt = stmt.where(transactions.c.stop_time.is_(None))
    elif active is False:
        stmt = stmt.where(transactions.c.stop_time.is_not(None))
    # SQLite stores the wall time and drops the offset: compare in UTC, as everything is stored.
    if since is not None:
        stmt = stmt.where(transactions.c.start_time >= as_utc(since))
    if until is not None:
        stmt = stmt.where(transactions.c.start_time < as_utc(until))
    stmt = stmt.order_by(transactions.c.id.desc()).limit(limit).offset(offset)
    result = await conn.execute(stmt)
    return [dict(r._mapping) for r in result]


async def meter_values_for(
    conn: AsyncConnection,
    *,
    transaction_id: int | None = None,
    station_id: str | None = None,
    limit: int = 10000,
) -> list[dict[str, Any]]:
    stmt = select(meter_values)
    if transaction_id is not None:
        stmt = stmt.where(meter_values.c.transaction_id == transaction_id)
    if station_id is not None:
        stmt = stmt.where(meter_values.c.station_id == station_id)
    result = await conn.execute(
        stmt.order_by(meter_values.c.timestamp, meter_values.c.id).limit(limit)
    )
    return [dict(r._mapping) for r in result]


async def stop_anomalies_for(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(stop_anomalies)
        .where(stop_anomalies.c.station_id == station_id)
        .order_by(stop_anomalies.c.id)
    )
    return [dict(r._mapping) for r in result]
