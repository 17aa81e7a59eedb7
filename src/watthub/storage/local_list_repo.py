"""Per-station local list state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables import station_configuration
from watthub.storage.tables_localauth import local_list_state
from watthub.storage.upsert import upsert
from watthub.timeutil import utcnow


async def get_state(conn: AsyncConnection, station_id: str) -> dict[str, Any]:
    """The stored state, or the defaults of a station never synchronised."""
    result = await conn.execute(
        select(local_list_state).where(local_list_state.c.station_id == station_id)
    )
    row = result.first()
    if row is not None:
        return dict(row._mapping)
    return {
        "station_id": station_id,
        "groups": None,
        "version": None,
        "content": None,
        "last_sent_version": 0,
        "reported_version": None,
        "supported": None,
        "last_update_type": None,
        "last_status": None,
        "updated_at": None,
    }


async def list_states(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    result = await conn.execute(select(local_list_state))
    return {r.station_id: dict(r._mapping) for r in result}


async def update_state(conn: AsyncConnection, station_id: str, **values: Any) -> None:
    values["updated_at"] = utcnow()
    await upsert(
        conn,
        local_list_state,
        {"station_id": station_id, **values},
        keys=["station_id"],
        update=list(values),
    )


async def max_length(conn: AsyncConnection, station_id: str) -> int | None:
    """``SendLocalListMaxLength`` from the stored configuration, if known and readable."""
    result = await conn.execute(
        select(station_configuration.c.value).where(
            station_configuration.c.station_id == station_id,
            station_configuration.c.key == "SendLocalListMaxLength",
        )
    )
    value = result.scalar()
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None
