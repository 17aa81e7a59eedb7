"""Queries for the security tables (see ``tables_security``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables import stations
from watthub.storage.tables_security import (
    issued_certificates,
    log_requests,
    security_events,
    security_profile_changes,
    signed_firmware_updates,
    station_certificates,
)
from watthub.timeutil import utcnow


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


# -- security events -------------------------------------------------------------------------


async def insert_event(
    conn: AsyncConnection,
    station_id: str,
    source: str,
    type_: str,
    *,
    critical: bool,
    tech_info: str | None,
    event_time: datetime | None = None,
) -> None:
    now = utcnow()
    await conn.execute(
        security_events.insert().values(
            station_id=station_id,
            source=source,
            type=type_[:64],
            critical=critical,
            tech_info=tech_info,
            event_time=event_time or now,
            received_at=now,
        )
    )


async def list_events(
    conn: AsyncConnection,
    station_id: str | None = None,
    *,
    critical_only: bool = False,
    limit: int = 200,
) -> list[dict[str, Any]]:
    query = select(security_events).order_by(security_events.c.id.desc()).limit(limit)
    if station_id is not None:
        query = query.where(security_events.c.station_id == station_id)
    if critical_only:
        query = query.where(security_events.c.critical.is_(True))
    return _rows(await conn.execute(query))


# -- security profile --------------------------------------------------------------------------


async def change_profile(
    conn: AsyncConnection, station_id: str, new_profile: int, via: str, reason: str = ""
) -> int | None:
    """Set the profile and write the audit record; returns the old profile (None: no station)."""
    old = await conn.scalar(select(stations.c.security_profile).where(stations.c.id == station_id))
    if old is None:
        return None
    await conn.execute(
        update(stations).where(stations.c.id == station_id).values(security_profile=new_profile)
    )
    await conn.execute(
        security_profile_changes.insert().values(
            station_id=station_id,
            old_profile=old,
            new_profile=new_profile,
            via=via,
            reason=reason,
            created_at=utcnow(),
        )
    )
    return int(old)


async def profile_changes(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    return _rows(
        await conn.execute(
            select(security_profile_changes)
            .where(security_profile_changes.c.station_id == station_id)
            .order_by(security_profile_changes.c.id)
        )
    )


# -- certificates on stations ------------------------------------------------------------------


async def add_installed(conn: AsyncConnection, station_id: str, **values: Any) -> None:
    # One row per (type, serial): a re-install replaces what we knew.
    await conn.execute(
        delete(station_certificates).where(
            station_certificates.c.station_id == station_id,
            station_certificates.c.certificate_type == values["certificate_type"],
            station_certificates.c.serial_number == values["serial_number"],
        )
    )
    await conn.execute(
        station_certificates.insert().values(station_id=station_id, updated_at=utcnow(), **values)
    )


async def reconcile_installed(
    conn: AsyncConnection, station_id: str, cert_type: str, reported: list[dict[str, str]]
) -> None:
    """Make our list for ``cert_type`` match a GetInstalledCertificateIds answer; the hash data
    the station reported replaces ours (it is what DeleteCertificate must use, M04.FR.07)."""
    rows = _rows(
        await conn.execute(
            select(station_certificates).where(
                station_certificates.c.station_id == station_id,
                station_certificates.c.certificate_type == cert_type,
            )
        )
    )
    known = {_serial(r["serial_number"]): r for r in rows}
    seen: set[str] = set()
    for data in reported:
        serial = _serial(data.get("serialNumber", ""))
        seen.add(serial)
        fields = {
            "hash_algorithm": data.get("hashAlgorithm"),
            "issuer_name_hash": data.get("issuerNameHash"),
            "issuer_key_hash": data.get("issuerKeyHash"),
            "serial_number": data.get("serialNumber", ""),
            "updated_at": utcnow(),
        }
        if serial in known:
            await conn.execute(
                update(station_certificates)
                .where(station_certificates.c.id == known[serial]["id"])
                .values(**fields)
            )
        else:
            await conn.execute(
                station_certificates.insert().values(
                    station_id=station_id, certificate_type=cert_type, **fields
                )
            )
    for serial, row in known.items():
        if serial not in seen:
            await conn.execute(
                delete(station_certificates).where(station_certificates.c.id == row["id"])
            )


async def remove_installed(conn: AsyncConnection, station_id: str, data: dict[str, str]) -> None:
    serial = _serial(data.get("serialNumber", ""))
    rows = _rows(
        await conn.execute(
            select(station_certificates).where(station_certificates.c.station_id == station_id)
        )
    )
    for row in rows:
        if _serial(row["serial_number"]) == serial:
            await conn.execute(
                delete(station_certificates).where(station_certificates.c.id == row["id"])
            )


async def installed(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    return _rows(
        await conn.execute(
            select(station_certificates)
            .where(station_certificates.c.station_id == station_id)
            .order_by(station_certificates.c.id)
        )
    )


async def get_installed(
    conn: AsyncConnection, station_id: str, cert_id: int
) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(station_certificates).where(
                station_certificates.c.station_id == station_id,
                station_certificates.c.id == cert_id,
            )
        )
    ).first()
    return dict(row._mapping) if row is not None else None


def _serial(value: str) -> str:
    try:
        return format(int(value, 16), "x")
    except ValueError:
        return value.lower()


# -- certificates WattHub issued ---------------------------------------------------------------


async def add_issued(conn: AsyncConnection, station_id: str, **values: Any) -> int:
    result = await conn.execute(
        issued_certificates.insert().values(station_id=station_id, created_at=utcnow(), **values)
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def set_issued_status(
    conn: AsyncConnection, issued_id: int, status: str, detail: str | None = None
) -> None:
    await conn.execute(
        update(issued_certificates)
        .where(issued_certificates.c.id == issued_id)
        .values(status=status, detail=detail)
    )


async def issued(conn: AsyncConnection, station_id: str | None = None) -> list[dict[str, Any]]:
    query = select(issued_certificates).order_by(issued_certificates.c.id.desc())
    if station_id is not None:
        query = query.where(issued_certificates.c.station_id == station_id)
    return _rows(await conn.execute(query))


async def expiring_issued(conn: AsyncConnection, before: datetime) -> list[dict[str, Any]]:
    """The newest accepted certificate of each station, when it expires before ``before``."""
    newest = (
        select(func.max(issued_certificates.c.id))
        .where(issued_certificates.c.status == "Accepted")
        .group_by(issued_certificates.c.station_id)
    )
    return _rows(
        await conn.execute(
            select(issued_certificates)
            .where(issued_certificates.c.id.in_(newest), issued_certificates.c.not_after <= before)
            .order_by(issued_certificates.c.not_after)
        )
    )


# -- GetLog / SignedUpdateFirmware requests ----------------------------------------------------


async def next_request_id(conn: AsyncConnection, table: Table, station_id: str) -> int:
    current = await conn.scalar(
        select(func.max(table.c.request_id)).where(table.c.station_id == station_id)
    )
    return int(current or 0) + 1


async def add_request(conn: AsyncConnection, table: Table, station_id: str, **values: Any) -> None:
    now = utcnow()
    await conn.execute(
        table.insert().values(
            station_id=station_id, history=[], created_at=now, updated_at=now, **values
        )
    )


async def record_status(
    conn: AsyncConnection, table: Table, station_id: str, request_id: int | None, status: str
) -> bool:
    """Append a status notification to the matching request (the newest one when the station
    sent no requestId); False when no request matches."""
    query = select(table).where(table.c.station_id == station_id).order_by(table.c.id.desc())
    if request_id is not None:
        query = query.where(table.c.request_id == request_id)
    row = (await conn.execute(query.limit(1))).first()
    if row is None:
        return False
    now = utcnow()
    history = [*(row.history or []), {"status": status, "at": now.isoformat()}]
    await conn.execute(
        update(table)
        .where(table.c.id == row.id)
        .values(status=status, history=history, updated_at=now)
    )
    return True


async def list_requests(
    conn: AsyncConnection, table: Table, station_id: str
) -> list[dict[str, Any]]:
    return _rows(
        await conn.execute(
            select(table).where(table.c.station_id == station_id).order_by(table.c.id.desc())
        )
    )


async def set_answer(
    conn: AsyncConnection, table: Table, station_id: str, request_id: int, **values: Any
) -> None:
    await conn.execute(
        update(table)
        .where(table.c.station_id == station_id, table.c.request_id == request_id)
        .values(updated_at=utcnow(), **values)
    )


__all__ = ["log_requests", "signed_firmware_updates"]
