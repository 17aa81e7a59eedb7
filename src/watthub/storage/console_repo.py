"""Read queries behind the operator console: network counts and a paged, filtered station list.

Everything is counted and paged in the database so that a network of 10,000 stations costs the
browser one small page, never the whole table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage import transactions_repo
from watthub.storage.tables import (
    STATUS_FAULT,
    connectors,
    meter_readings,
    stations,
    status_history,
    transactions,
)
from watthub.storage.tables_security import security_events
from watthub.timeutil import as_utc

ENERGY = transactions_repo.ENERGY
# Station filters of the console's list; "faulted"/"charging" look at the connectors' status.
STATION_FILTERS = ("online", "offline", "faulted", "charging", "available")


def _with_connector_status(status: str) -> Any:
    return stations.c.id.in_(
        select(connectors.c.station_id).where(connectors.c.status == status).distinct()
    )


def _filtered(
    stmt: Select[Any], q: str | None, state: str | None, security_profile: int | None = None
) -> Select[Any]:
    if security_profile is not None:
        stmt = stmt.where(stations.c.security_profile == security_profile)
    if q:
        pattern = f"%{q.casefold()}%"
        stmt = stmt.where(
            or_(
                func.lower(stations.c.id).like(pattern),
                func.lower(stations.c.description).like(pattern),
                func.lower(func.coalesce(stations.c.vendor, "")).like(pattern),
                func.lower(func.coalesce(stations.c.model, "")).like(pattern),
            )
        )
    if state == "online":
        stmt = stmt.where(stations.c.connected_since.is_not(None))
    elif state == "offline":
        stmt = stmt.where(stations.c.connected_since.is_(None))
    elif state == "faulted":
        stmt = stmt.where(_with_connector_status("Faulted"))
    elif state == "charging":
        stmt = stmt.where(_with_connector_status("Charging"))
    elif state == "available":
        stmt = stmt.where(_with_connector_status("Available"))
    return stmt


async def page_stations(
    conn: AsyncConnection,
    *,
    q: str | None,
    state: str | None,
    limit: int,
    offset: int,
    security_profile: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    counted = select(func.count()).select_from(stations)
    total = await conn.scalar(_filtered(counted, q, state, security_profile))
    result = await conn.execute(
        _filtered(select(stations), q, state, security_profile)
        .order_by(stations.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r._mapping) for r in result], int(total or 0)


async def connectors_of(
    conn: AsyncConnection, station_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {sid: [] for sid in station_ids}
    if not station_ids:
        return out
    result = await conn.execute(
        select(connectors)
        .where(connectors.c.station_id.in_(station_ids))
        .order_by(connectors.c.station_id, connectors.c.connector_id)
    )
    for r in result:
        out[r.station_id].append(dict(r._mapping))
    return out


async def counts(conn: AsyncConnection) -> dict[str, int]:
    total = await conn.scalar(select(func.count()).select_from(stations))
    online = await conn.scalar(
        select(func.count()).select_from(stations).where(stations.c.connected_since.is_not(None))
    )
    by_status = {
        status: int(n)
        for status, n in (
            await conn.execute(
                select(connectors.c.status, func.count(func.distinct(connectors.c.station_id)))
                .where(connectors.c.status.in_(("Faulted", "Charging")))
                .group_by(connectors.c.status)
            )
        ).all()
    }
    charging_connectors = await conn.scalar(
        select(func.count()).select_from(connectors).where(connectors.c.status == "Charging")
    )
    active = await conn.scalar(
        select(func.count()).select_from(transactions).where(transactions.c.stop_time.is_(None))
    )
    return {
        "total": int(total or 0),
        "online": int(online or 0),
        "offline": int(total or 0) - int(online or 0),
        "faulted": by_status.get("Faulted", 0),
        "charging": by_status.get("Charging", 0),
        "chargingConnectors": int(charging_connectors or 0),
        "activeTransactions": int(active or 0),
    }


# Readings holding an energy register sample (the samples are JSON text written by orjson,
# compact: this member appears verbatim); the phase is checked in Python.
_HAS_ENERGY = meter_readings.c.sampled_values.contains(f'"measurand":"{ENERGY}"')
_READINGS_OF_TX = meter_readings.join(
    transactions, meter_readings.c.transaction_id == transactions.c.id
)


async def energy_since(conn: AsyncConnection, since: datetime) -> float:
    """Wh delivered by transactions that started since ``since``: meterStop - meterStart for
    finished ones, the latest energy register reading for running ones."""
    finished = await conn.scalar(
        select(func.coalesce(func.sum(transactions.c.meter_stop - transactions.c.meter_start), 0))
        .where(transactions.c.start_time >= since)
        .where(transactions.c.stop_time.is_not(None))
    )
    total = float(finished or 0)
    running = and_(transactions.c.stop_time.is_(None), transactions.c.start_time >= since)
    latest = (
        select(func.max(meter_readings.c.id).label("id"))
        .select_from(_READINGS_OF_TX)
        .where(running, _HAS_ENERGY)
        .group_by(meter_readings.c.transaction_id)
        .subquery()
    )
    result = await conn.execute(
        select(
            meter_readings.c.transaction_id,
            meter_readings.c.sampled_values,
            transactions.c.meter_start,
        )
        .select_from(_READINGS_OF_TX)
        .where(meter_readings.c.id.in_(select(latest.c.id)))
    )
    for tx_id, text, start in result:
        sample = await _latest_energy(conn, tx_id, text)
        value = transactions_repo.wh(sample) if sample is not None else None
        if value is not None and value >= start:
            total += value - start
    return total


async def _latest_energy(conn: AsyncConnection, tx_id: int, text: str) -> dict[str, Any] | None:
    """The latest total energy sample of a transaction, given its latest reading with an energy
    sample; when that one only has per-phase samples, the readings before it are searched."""
    samples = transactions_repo.energy_samples(text)
    if samples:
        return samples[0]
    older = await conn.execute(
        select(meter_readings.c.sampled_values)
        .where(meter_readings.c.transaction_id == tx_id, _HAS_ENERGY)
        .order_by(meter_readings.c.id.desc())
    )
    for (other,) in older:
        samples = transactions_repo.energy_samples(other)
        if samples:
            return samples[0]
    return None


def recent_faults(limit: int) -> Select[Any]:
    """The latest statuses reporting a fault, through the faults-only index (migration 0601)."""
    query = select(status_history).where(STATUS_FAULT)
    return query.order_by(status_history.c.id.desc()).limit(limit)


async def recent_events(conn: AsyncConnection, limit: int = 20) -> list[dict[str, Any]]:
    """Boots, connector faults and security events, newest first (what the overview lists)."""
    boots = await conn.execute(
        select(stations.c.id, stations.c.last_boot_at, stations.c.registration_status)
        .where(stations.c.last_boot_at.is_not(None))
        .order_by(stations.c.last_boot_at.desc())
        .limit(limit)
    )
    faults = await conn.execute(recent_faults(limit))
    security = await conn.execute(
        select(security_events).order_by(security_events.c.id.desc()).limit(limit)
    )
    out: list[dict[str, Any]] = []
    for sid, at, status in boots:
        out.append({"at": at, "kind": "boot", "stationId": sid, "text": f"booted ({status})"})
    for r in faults:
        out.append(
            {
                "at": r.received_at,
                "kind": "fault",
                "stationId": r.station_id,
                "text": f"connector {r.connector_id} {r.status} ({r.error_code})",
            }
        )
    for r in security:
        out.append(
            {
                "at": r.received_at,
                "kind": "security",
                "stationId": r.station_id,
                "text": f"{r.type}{' (critical)' if r.critical else ''}",
            }
        )
    out.sort(key=lambda e: as_utc(e["at"]) if e["at"] else datetime.min.replace(tzinfo=UTC))
    out.reverse()
    return out[:limit]


def start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
