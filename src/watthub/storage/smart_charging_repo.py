"""Charging profile library, installed profiles per station, sites and their allocations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.smart_charging import InstalledProfile, InstalledProfiles
from watthub.storage.tables_smart_charging import (
    charging_profiles,
    installed_charging_profiles,
    site_allocations,
    site_stations,
    sites,
)
from watthub.timeutil import utcnow

# --- library ----------------------------------------------------------------------------------


async def list_library(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(charging_profiles).order_by(charging_profiles.c.id))
    return [dict(r._mapping) for r in result]


async def get_library_profile(conn: AsyncConnection, profile_id: int) -> dict[str, Any] | None:
    result = await conn.execute(
        select(charging_profiles).where(charging_profiles.c.id == profile_id)
    )
    row = result.first()
    return dict(row._mapping) if row is not None else None


async def next_library_id(conn: AsyncConnection) -> int:
    result = await conn.execute(select(func.max(charging_profiles.c.id)))
    return int(result.scalar() or 0) + 1


async def save_library_profile(
    conn: AsyncConnection, profile_id: int, name: str, profile: dict[str, Any], *, new: bool
) -> None:
    values = {
        "name": name,
        "purpose": profile["chargingProfilePurpose"],
        "stack_level": profile["stackLevel"],
        "kind": profile["chargingProfileKind"],
        "profile": profile,
        "updated_at": utcnow(),
    }
    if new:
        await conn.execute(
            charging_profiles.insert().values(id=profile_id, created_at=utcnow(), **values)
        )
    else:
        await conn.execute(
            update(charging_profiles).where(charging_profiles.c.id == profile_id).values(**values)
        )


async def delete_library_profile(conn: AsyncConnection, profile_id: int) -> bool:
    result = await conn.execute(
        delete(charging_profiles).where(charging_profiles.c.id == profile_id)
    )
    return bool(result.rowcount)


# --- installed profiles -------------------------------------------------------------------------


async def load_installed(conn: AsyncConnection, station_id: str) -> InstalledProfiles:
    result = await conn.execute(
        select(installed_charging_profiles)
        .where(installed_charging_profiles.c.station_id == station_id)
        .order_by(installed_charging_profiles.c.seq)
    )
    return InstalledProfiles(InstalledProfile(r.connector_id, dict(r.profile)) for r in result)


async def stations_with_installed(conn: AsyncConnection) -> list[str]:
    result = await conn.execute(select(installed_charging_profiles.c.station_id).distinct())
    return [r[0] for r in result]


async def installed_rows(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(installed_charging_profiles)
        .where(installed_charging_profiles.c.station_id == station_id)
        .order_by(installed_charging_profiles.c.seq)
    )
    return [dict(r._mapping) for r in result]


async def save_installed(
    conn: AsyncConnection, station_id: str, installed: InstalledProfiles
) -> None:
    """Rewrite the station's rows from the model. Rows still present keep their ``seq`` and
    installation time, so the order (which breaks stack-level ties) survives."""
    existing = await installed_rows(conn, station_id)
    keep = {(r["connector_id"], r["charging_profile_id"]): r for r in existing}
    wanted = list(installed)
    wanted_keys = {(e.connector_id, e.profile_id) for e in wanted}
    stale = [r["seq"] for key, r in keep.items() if key not in wanted_keys]
    # A profile re-installed with the same id but new content moves to the end (newest).
    changed = [
        keep[(e.connector_id, e.profile_id)]["seq"]
        for e in wanted
        if (e.connector_id, e.profile_id) in keep
        and keep[(e.connector_id, e.profile_id)]["profile"] != e.profile
    ]
    drop = stale + changed
    if drop:
        await conn.execute(
            delete(installed_charging_profiles).where(installed_charging_profiles.c.seq.in_(drop))
        )
    rows = [
        {
            "station_id": station_id,
            "connector_id": e.connector_id,
            "charging_profile_id": e.profile_id,
            "purpose": e.profile.get("chargingProfilePurpose"),
            "stack_level": e.profile.get("stackLevel", 0),
            "transaction_id": e.profile.get("transactionId"),
            "profile": e.profile,
            "installed_at": utcnow(),
        }
        for e in wanted
        if (e.connector_id, e.profile_id) not in keep
        or keep[(e.connector_id, e.profile_id)]["seq"] in changed
    ]
    if rows:
        await conn.execute(installed_charging_profiles.insert(), rows)


# --- sites --------------------------------------------------------------------------------------


async def list_sites(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(sites).order_by(sites.c.id))
    return [dict(r._mapping) for r in result]


async def get_site(conn: AsyncConnection, site_id: str) -> dict[str, Any] | None:
    result = await conn.execute(select(sites).where(sites.c.id == site_id))
    row = result.first()
    return dict(row._mapping) if row is not None else None


async def create_site(conn: AsyncConnection, site_id: str, **values: Any) -> None:
    now = utcnow()
    await conn.execute(sites.insert().values(id=site_id, created_at=now, updated_at=now, **values))


async def update_site(conn: AsyncConnection, site_id: str, **values: Any) -> None:
    await conn.execute(
        update(sites).where(sites.c.id == site_id).values(updated_at=utcnow(), **values)
    )


async def delete_site(conn: AsyncConnection, site_id: str) -> None:
    await conn.execute(delete(site_allocations).where(site_allocations.c.site_id == site_id))
    await conn.execute(delete(site_stations).where(site_stations.c.site_id == site_id))
    await conn.execute(delete(sites).where(sites.c.id == site_id))


async def site_of_station(conn: AsyncConnection, station_id: str) -> str | None:
    result = await conn.execute(
        select(site_stations.c.site_id).where(site_stations.c.station_id == station_id)
    )
    return result.scalar()


async def all_site_station_ids(conn: AsyncConnection) -> list[str]:
    result = await conn.execute(select(site_stations.c.station_id))
    return [r[0] for r in result]


async def site_station_ids(conn: AsyncConnection, site_id: str) -> list[str]:
    result = await conn.execute(
        select(site_stations.c.station_id)
        .where(site_stations.c.site_id == site_id)
        .order_by(site_stations.c.station_id)
    )
    return [r[0] for r in result]


async def assign_station(conn: AsyncConnection, site_id: str, station_id: str) -> None:
    await conn.execute(delete(site_stations).where(site_stations.c.station_id == station_id))
    await conn.execute(site_stations.insert().values(site_id=site_id, station_id=station_id))


async def unassign_station(conn: AsyncConnection, station_id: str) -> bool:
    result = await conn.execute(
        delete(site_stations).where(site_stations.c.station_id == station_id)
    )
    await conn.execute(delete(site_allocations).where(site_allocations.c.station_id == station_id))
    return bool(result.rowcount)


async def allocations(conn: AsyncConnection, site_id: str) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(site_allocations)
        .where(site_allocations.c.site_id == site_id)
        .order_by(site_allocations.c.transaction_id)
    )
    return [dict(r._mapping) for r in result]


async def set_allocation(
    conn: AsyncConnection,
    site_id: str,
    transaction_id: int,
    station_id: str,
    connector_id: int,
    limit: float,
    refused: bool = False,
) -> None:
    await conn.execute(
        delete(site_allocations).where(site_allocations.c.transaction_id == transaction_id)
    )
    await conn.execute(
        site_allocations.insert().values(
            transaction_id=transaction_id,
            site_id=site_id,
            station_id=station_id,
            connector_id=connector_id,
            limit=limit,
            refused=refused,
            updated_at=utcnow(),
        )
    )


async def drop_allocation(conn: AsyncConnection, transaction_id: int) -> None:
    await conn.execute(
        delete(site_allocations).where(site_allocations.c.transaction_id == transaction_id)
    )
