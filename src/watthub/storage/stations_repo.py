"""Stations, their connectors, status history and stored configuration."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.ocppj.config_keys import AUTHORIZATION_KEY, same_key
from watthub.storage.clip import clip, clip_rows
from watthub.storage.tables import connectors, station_configuration, stations, status_history
from watthub.storage.upsert import upsert
from watthub.timeutil import utcnow


def _row(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


async def get_station(conn: AsyncConnection, station_id: str) -> dict[str, Any] | None:
    result = await conn.execute(select(stations).where(stations.c.id == station_id))
    return _row(result.first())


async def get_stations(conn: AsyncConnection, station_ids: list[str]) -> list[dict[str, Any]]:
    """The rows of ``station_ids`` that exist, in one query (handshake batches)."""
    result = await conn.execute(select(stations).where(stations.c.id.in_(station_ids)))
    return [dict(r._mapping) for r in result]


@cache
def auto_register_insert(dialect: str) -> Any:
    """INSERT of an auto-registered station that leaves an existing row alone: one parameter set
    per station, so the registrations of a storm share one ``executemany`` in one commit."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(stations).on_conflict_do_nothing(index_elements=["id"])


async def list_stations(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(stations).order_by(stations.c.id))
    return [dict(r._mapping) for r in result]


async def create_station(conn: AsyncConnection, station_id: str, **values: Any) -> dict[str, Any]:
    # A station created with a password uses Basic auth (profile 1); without one, profile 0.
    values.setdefault("security_profile", 1 if values.get("password_hash") else 0)
    row = {"id": station_id, "created_at": utcnow(), **values}
    await conn.execute(stations.insert().values(**row))
    created = await get_station(conn, station_id)
    assert created is not None
    return created


# Last-seen times of many stations in one executemany (see OcppServer.flush_last_seen).
TOUCH_LAST_SEEN = (
    update(stations).where(stations.c.id == bindparam("sid")).values(last_seen_at=bindparam("seen"))
)


# Connection state and boot data: prebuilt UPDATEs taking one parameter set per station, so the
# writes of a storm's thousands of handshakes and boots coalesce into one executemany per batch.
MARK_CONNECTED = (
    update(stations)
    .where(stations.c.id == bindparam("sid"))
    .values(
        connected_since=bindparam("since"),
        connected_node=bindparam("node"),
        last_seen_at=bindparam("seen"),
    )
)
# Only the node that recorded the connection clears it: when a station moved to another node
# (cluster), the old node's disconnect may commit after the new node's connect.
MARK_DISCONNECTED = (
    update(stations)
    .where(stations.c.id == bindparam("sid"))
    .where(or_(stations.c.connected_node == bindparam("node"), stations.c.connected_node.is_(None)))
    # null(), not None: None would become a bind parameter the rows do not carry.
    .values(connected_since=null(), connected_node=null(), last_seen_at=bindparam("seen"))
)
BOOT_COLUMNS = (
    "vendor",
    "model",
    "serial_number",
    "charge_box_serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
)
STORE_BOOT = (
    update(stations)
    .where(stations.c.id == bindparam("sid"))
    .values(
        registration_status=bindparam("b_status"),
        last_boot_at=bindparam("b_at"),
        last_seen_at=bindparam("b_seen"),
        **{c: bindparam("b_" + c) for c in BOOT_COLUMNS},
    )
)


def boot_row(station_id: str, status: str, at: datetime, info: dict[str, Any]) -> dict[str, Any]:
    """Parameters of :data:`STORE_BOOT` (values clipped to the column sizes)."""
    info = clip(stations, {c: info.get(c) for c in BOOT_COLUMNS})
    return {
        "sid": station_id,
        "b_status": status,
        "b_at": at,
        "b_seen": at,
        **{"b_" + c: info[c] for c in BOOT_COLUMNS},
    }


async def update_station(conn: AsyncConnection, station_id: str, **values: Any) -> bool:
    result = await conn.execute(
        update(stations).where(stations.c.id == station_id).values(**clip(stations, values))
    )
    return result.rowcount > 0


async def delete_station(conn: AsyncConnection, station_id: str) -> bool:
    await conn.execute(delete(connectors).where(connectors.c.station_id == station_id))
    await conn.execute(
        delete(station_configuration).where(station_configuration.c.station_id == station_id)
    )
    result = await conn.execute(delete(stations).where(stations.c.id == station_id))
    return result.rowcount > 0


def status_rows(
    station_id: str,
    connector_id: int,
    status: str,
    error_code: str,
    status_at: datetime,
    info: str | None = None,
    vendor_id: str | None = None,
    vendor_error_code: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(history row, current-status row) for one StatusNotification."""
    now = utcnow()
    detail = clip(
        connectors,  # same widths in status_history
        {
            "status": status,
            "error_code": error_code,
            "info": info,
            "vendor_id": vendor_id,
            "vendor_error_code": vendor_error_code,
            "status_at": status_at,
        },
    )
    history = {"station_id": station_id, "connector_id": connector_id, "received_at": now, **detail}
    current = {"station_id": station_id, "connector_id": connector_id, "updated_at": now, **detail}
    return history, current


_STATUS_COLUMNS = (
    "status",
    "error_code",
    "info",
    "vendor_id",
    "vendor_error_code",
    "status_at",
    "updated_at",
)


@cache
def current_status_upsert(dialect: str) -> Any:
    """One statement: create the connector or move its status forward — only forward in time, so
    a late, historical StatusNotification (sent after an offline period) cannot overwrite a newer
    one (spec §4.9)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(connectors)
    return stmt.on_conflict_do_update(
        index_elements=["station_id", "connector_id"],
        set_={c: stmt.excluded[c] for c in _STATUS_COLUMNS},
        where=or_(
            connectors.c.status_at.is_(None), connectors.c.status_at <= stmt.excluded.status_at
        ),
    )


async def set_current_status(conn: AsyncConnection, current: dict[str, Any]) -> None:
    await conn.execute(current_status_upsert(conn.dialect.name), current)


async def record_status(
    conn: AsyncConnection,
    station_id: str,
    connector_id: int,
    status: str,
    error_code: str,
    status_at: datetime,
    **extra: Any,
) -> None:
    """Append to the history and move the current status forward (one call, for cold paths)."""
    history, current = status_rows(station_id, connector_id, status, error_code, status_at, **extra)
    await conn.execute(status_history.insert(), history)
    await set_current_status(conn, current)


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
    result = await conn.execute(status_history_query(station_id, limit))
    return [dict(r._mapping) for r in result]


def status_history_query(station_id: str, limit: int) -> Select[Any]:
    """A station's statuses, newest first, through (station_id, id) (migration 0601)."""
    return (
        select(status_history)
        .where(status_history.c.station_id == station_id)
        .order_by(status_history.c.id.desc())
        .limit(limit)
    )


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
            # AuthorizationKey is write-only; should a station return it, it is not kept.
            "value": None if same_key(k["key"], AUTHORIZATION_KEY) else k.get("value"),
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
    # Clipped keys (or a key reported twice) must not hit one row twice in one upsert.
    unique = {r["key"]: r for r in clip_rows(station_configuration, rows)}
    await upsert(conn, station_configuration, list(unique.values()), keys=["station_id", "key"])


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
