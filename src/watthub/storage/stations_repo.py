"""Stations, their connectors, status history and stored configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables import connectors, station_configuration, stations, status_history
from watthub.storage.upsert import upsert
from watthub.timeutil import as_utc, utcnow


def _row(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


async def get_station(conn: AsyncConnection, station_id: str) -> dict[str, Any] | None:
    result = await conn.execute(select(stations).where(stations.c.id == station_id))
    return _row(result.first())


async def list_stations(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(stations).order_by(stations.c.id))
    return [dict(r._mapping) for r in result]


async def create_station(conn: AsyncConnection, station_id: str, **values: Any) -> dict[str, Any]:
    row = {"id": station_id, "created_at": utcnow(), **values}
    await conn.execute(stations.insert().values(**row))
    created = await get_station(conn, station_id)
    assert created is not None
    return created


async def update_station(conn: AsyncConnection, station_id: str, **values: Any) -> bool:
    result = await conn.execute(
        update(stations).where(stations.c.id == station_id).values(**values)
    )
    return result.rowcount > 0


async def delete_station(conn: AsyncConnection, station_id: str) -> bool:
    await conn.execute(delete(connectors).where(connectors.c.station_id == station_id))
    await conn.execute(
        delete(station_configuration).where(station_configuration.c.station_id == station_id)
    )
    result = await conn.execute(delete(stations).where(stations.c.id == station_id))
    return result.rowcount > 0


async def record_status(
    conn: AsyncConnection,
    station_id: str,
    connector_id: int,
    status: str,
    error_code: str,
    status_at: datetime,
    info: str | None = None,
    vendor_id: str | None = None,
    vendor_error_code: str | None = None,
) -> None:
    """Append to the history; the connector's current status only moves forward in time, so a
    late, historical StatusNotification (sent after an offline period) cannot overwrite a newer
    one (spec §4.9)."""
    now = utcnow()
    detail = {
        "status": status,
        "error_code": error_code,
        "info": info,
        "vendor_id": vendor_id,
        "vendor_error_code": vendor_error_code,
        "status_at": status_at,
    }
    await conn.execute(
        status_history.insert().values(
            station_id=station_id, connector_id=connector_id, received_at=now, **detail
        )
    )
    current = await conn.execute(
        select(connectors.c.status_at).where(
            connectors.c.station_id == station_id, connectors.c.connector_id == connector_id
        )
    )
    row = current.first()
    if row is None:
        await upsert(
            conn,
            connectors,
            {"station_id": station_id, "connector_id": connector_id, "updated_at": now, **detail},
            keys=["station_id", "connector_id"],
        )
    elif row.status_at is None or as_utc(row.status_at) <= status_at:  # type: ignore[operator]
        await conn.execute(
            update(connectors)
            .where(connectors.c.station_id == station_id, connectors.c.connector_id == connector_id)
            .values(updated_at=now, **detail)
        )


async def list_connectors(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(connectors)
        .where(connectors.c.station_id == station_id)
        .order_by(connectors.c.connector_id)
    )
    return [dict(r._mapping) for r in result]


async def ensure_connector(conn: AsyncConnection, station_id: str, connector_id: int) -> None:
    await upsert(
        conn,
        connectors,
        {"station_id": station_id, "connector_id": connector_id, "updated_at": utcnow()},
        keys=["station_id", "connector_id"],
        update=[],
    )


async def status_history_for(
    conn: AsyncConnection, station_id: str, limit: int = 200
) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(status_history)
        .where(status_history.c.station_id == station_id)
        .order_by(status_history.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in result]


async def store_configuration(
    conn: AsyncConnection,
    station_id: str,
    keys: list[dict[str, Any]],
    unknown: list[str],
    replace_all: bool,
) -> None:
    """Store a GetConfiguration answer. A full read (no key asked) replaces what we knew."""
    now = utcnow()
    if replace_all:
        await conn.execute(
            delete(station_configuration).where(station_configuration.c.station_id == station_id)
        )
    rows = [
        {
            "station_id": station_id,
            "key": k["key"],
            "value": k.get("value"),
            "readonly": k.get("readonly"),
            "known": True,
            "updated_at": now,
        }
        for k in keys
    ] + [
        {
            "station_id": station_id,
            "key": key,
            "value": None,
            "readonly": None,
            "known": False,
            "updated_at": now,
        }
        for key in unknown
    ]
    await upsert(conn, station_configuration, rows, keys=["station_id", "key"])


async def set_configuration_value(
    conn: AsyncConnection, station_id: str, key: str, value: str
) -> None:
    await upsert(
        conn,
        station_configuration,
        {
            "station_id": station_id,
            "key": key,
            "value": value,
            "known": True,
            "updated_at": utcnow(),
        },
        keys=["station_id", "key"],
        update=["value", "known", "updated_at"],
    )


async def get_configuration(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(station_configuration)
        .where(station_configuration.c.station_id == station_id)
        .order_by(station_configuration.c.key)
    )
    return [dict(r._mapping) for r in result]
