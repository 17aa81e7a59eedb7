"""Firmware Management storage: images, status history, requests, diagnostics files, campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables_firmware import (
    diagnostics_files,
    diagnostics_requests,
    firmware_campaign_stations,
    firmware_campaigns,
    firmware_images,
    firmware_status_events,
    firmware_updates,
)
from watthub.timeutil import utcnow

# Campaign station states in which the station is busy with our UpdateFirmware.
IN_FLIGHT = ("sent", "downloading", "downloaded", "installing")
# FirmwareStatusNotification status → campaign station state (Idle changes nothing).
FIRMWARE_STATE = {
    "Downloading": "downloading",
    "Downloaded": "downloaded",
    "Installing": "installing",
    "Installed": "installed",
    "DownloadFailed": "failed",
    "InstallationFailed": "failed",
}


def _one(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _all(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


async def _insert(conn: AsyncConnection, table: Any, values: dict[str, Any]) -> int:
    result = await conn.execute(table.insert().values(**values).returning(table.c.id))
    return int(result.scalar_one())


# -- images ---------------------------------------------------------------------------------


async def insert_image(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    image_id = await _insert(conn, firmware_images, {"created_at": utcnow(), **values})
    image = await get_image(conn, image_id)
    assert image is not None
    return image


async def get_image(conn: AsyncConnection, image_id: int) -> dict[str, Any] | None:
    result = await conn.execute(select(firmware_images).where(firmware_images.c.id == image_id))
    return _one(result.first())


async def get_image_by_token(conn: AsyncConnection, token: str) -> dict[str, Any] | None:
    result = await conn.execute(select(firmware_images).where(firmware_images.c.token == token))
    return _one(result.first())


async def list_images(conn: AsyncConnection) -> list[dict[str, Any]]:
    return _all(await conn.execute(select(firmware_images).order_by(firmware_images.c.id)))


async def delete_image(conn: AsyncConnection, image_id: int) -> bool:
    result = await conn.execute(firmware_images.delete().where(firmware_images.c.id == image_id))
    return result.rowcount > 0


# -- status notifications -------------------------------------------------------------------


async def record_status(
    conn: AsyncConnection, station_id: str, kind: str, status: str
) -> dict[str, Any] | None:
    """Store one FirmwareStatusNotification / DiagnosticsStatusNotification and move what it
    concerns along: the latest request, and for firmware the station's campaign entry.

    Returns the campaign entry that changed (or None)."""
    now = utcnow()
    await conn.execute(
        firmware_status_events.insert().values(
            station_id=station_id, kind=kind, status=status, received_at=now
        )
    )
    table = firmware_updates if kind == "firmware" else diagnostics_requests
    latest = await conn.execute(
        select(func.max(table.c.id)).where(table.c.station_id == station_id)
    )
    latest_id = latest.scalar()
    if latest_id is not None and status != "Idle":
        await conn.execute(update(table).where(table.c.id == latest_id).values(last_status=status))
    if kind != "firmware" or status not in FIRMWARE_STATE:
        return None
    entry = await active_campaign_entry(conn, station_id)
    if entry is None:
        return None
    state = FIRMWARE_STATE[status]
    detail = f"station reported {status}" if state == "failed" else ""
    await set_campaign_station(
        conn, entry["campaign_id"], station_id, state=state, last_status=status, detail=detail
    )
    return {**entry, "state": state}


async def status_timeline(
    conn: AsyncConnection, station_id: str, kind: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    query = select(firmware_status_events).where(firmware_status_events.c.station_id == station_id)
    if kind is not None:
        query = query.where(firmware_status_events.c.kind == kind)
    query = query.order_by(firmware_status_events.c.id.desc()).limit(limit)
    return _all(await conn.execute(query))


async def latest_status(conn: AsyncConnection, station_id: str, kind: str) -> dict[str, Any] | None:
    rows = await status_timeline(conn, station_id, kind, limit=1)
    return rows[0] if rows else None


# -- UpdateFirmware -------------------------------------------------------------------------


async def insert_update(conn: AsyncConnection, **values: Any) -> int:
    return await _insert(conn, firmware_updates, {"sent_at": utcnow(), **values})


async def list_updates(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    query = (
        select(firmware_updates)
        .where(firmware_updates.c.station_id == station_id)
        .order_by(firmware_updates.c.id.desc())
    )
    return _all(await conn.execute(query))


async def latest_update_awaits_boot(conn: AsyncConnection, station_id: str) -> bool:
    """Whether the station's latest UpdateFirmware has downloaded and waits for the next boot."""
    latest = await conn.execute(
        select(firmware_updates.c.booted_at, firmware_updates.c.last_status)
        .where(firmware_updates.c.station_id == station_id)
        .order_by(firmware_updates.c.id.desc())
        .limit(1)
    )
    row = latest.first()
    return row is not None and row.booted_at is None and row.last_status in _DOWNLOADED


# Statuses that say the image was downloaded: a boot after one of these runs what the install
# left (InstallationFailed included: its report can overtake the handling of the boot before it).
_DOWNLOADED = ("Downloaded", "Installing", "Installed", "InstallationFailed")


async def record_boot_version(
    conn: AsyncConnection, station_id: str, version: str | None, booted_at: datetime
) -> None:
    """The firmware version reported at the first boot after the latest UpdateFirmware was
    downloaded (a reboot before the download proper says nothing about the new image)."""
    latest = await conn.execute(
        select(firmware_updates)
        .where(firmware_updates.c.station_id == station_id)
        .order_by(firmware_updates.c.id.desc())
        .limit(1)
    )
    row = latest.first()
    if row is None or row.booted_at is not None:
        return
    if row.last_status not in _DOWNLOADED:
        return
    await conn.execute(
        update(firmware_updates)
        .where(firmware_updates.c.id == row.id)
        .values(version_after=version, booted_at=booted_at)
    )


# -- GetDiagnostics -------------------------------------------------------------------------


async def insert_diagnostics_request(conn: AsyncConnection, **values: Any) -> int:
    return await _insert(conn, diagnostics_requests, {"requested_at": utcnow(), **values})


async def answer_diagnostics_request(
    conn: AsyncConnection, station_id: str, location: str, file_name: str | None
) -> None:
    latest = await conn.execute(
        select(func.max(diagnostics_requests.c.id)).where(
            and_(
                diagnostics_requests.c.station_id == station_id,
                diagnostics_requests.c.location == location,
            )
        )
    )
    request_id = latest.scalar()
    if request_id is not None:
        await conn.execute(
            update(diagnostics_requests)
            .where(diagnostics_requests.c.id == request_id)
            .values(answered=1, file_name=file_name)
        )


async def diagnostics_request_by_token(conn: AsyncConnection, token: str) -> dict[str, Any] | None:
    result = await conn.execute(
        select(diagnostics_requests).where(diagnostics_requests.c.token == token)
    )
    return _one(result.first())


async def list_diagnostics_requests(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    query = (
        select(diagnostics_requests)
        .where(diagnostics_requests.c.station_id == station_id)
        .order_by(diagnostics_requests.c.id.desc())
    )
    return _all(await conn.execute(query))


async def ftp_accounts(conn: AsyncConnection, since: datetime) -> list[dict[str, Any]]:
    query = select(diagnostics_requests).where(
        and_(
            diagnostics_requests.c.transport == "ftp",
            diagnostics_requests.c.requested_at >= since,
        )
    )
    return _all(await conn.execute(query))


async def insert_diagnostics_file(conn: AsyncConnection, **values: Any) -> dict[str, Any]:
    file_id = await _insert(conn, diagnostics_files, {"received_at": utcnow(), **values})
    found = await get_diagnostics_file(conn, file_id)
    assert found is not None
    return found


async def get_diagnostics_file(conn: AsyncConnection, file_id: int) -> dict[str, Any] | None:
    result = await conn.execute(select(diagnostics_files).where(diagnostics_files.c.id == file_id))
    return _one(result.first())


async def list_diagnostics_files(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    query = (
        select(diagnostics_files)
        .where(diagnostics_files.c.station_id == station_id)
        .order_by(diagnostics_files.c.id.desc())
    )
    return _all(await conn.execute(query))


async def files_uploaded_to(
    conn: AsyncConnection, station_id: str, location: str
) -> list[dict[str, Any]]:
    """Files received at one of WattHub's own upload locations (GetDiagnostics or GetLog)."""
    query = (
        select(diagnostics_files)
        .join(diagnostics_requests, diagnostics_requests.c.id == diagnostics_files.c.request_id)
        .where(
            and_(
                diagnostics_requests.c.station_id == station_id,
                diagnostics_requests.c.location == location,
                diagnostics_files.c.station_id == station_id,
            )
        )
        .order_by(diagnostics_files.c.id)
    )
    return _all(await conn.execute(query))


# -- campaigns ------------------------------------------------------------------------------


async def create_campaign(
    conn: AsyncConnection, station_ids: list[str], **values: Any
) -> dict[str, Any]:
    now = utcnow()
    campaign_id = await _insert(
        conn, firmware_campaigns, {"status": "running", "created_at": now, **values}
    )
    await conn.execute(
        firmware_campaign_stations.insert(),
        [
            {
                "campaign_id": campaign_id,
                "station_id": sid,
                "position": i,
                "state": "scheduled",
                "updated_at": now,
            }
            for i, sid in enumerate(station_ids)
        ],
    )
    found = await get_campaign(conn, campaign_id)
    assert found is not None
    return found


async def get_campaign(conn: AsyncConnection, campaign_id: int) -> dict[str, Any] | None:
    result = await conn.execute(
        select(firmware_campaigns).where(firmware_campaigns.c.id == campaign_id)
    )
    return _one(result.first())


async def list_campaigns(conn: AsyncConnection, status: str | None = None) -> list[dict[str, Any]]:
    query = select(firmware_campaigns).order_by(firmware_campaigns.c.id.desc())
    if status is not None:
        query = query.where(firmware_campaigns.c.status == status)
    return _all(await conn.execute(query))


async def campaign_stations(conn: AsyncConnection, campaign_id: int) -> list[dict[str, Any]]:
    query = (
        select(firmware_campaign_stations)
        .where(firmware_campaign_stations.c.campaign_id == campaign_id)
        .order_by(firmware_campaign_stations.c.position)
    )
    return _all(await conn.execute(query))


async def set_campaign_station(
    conn: AsyncConnection, campaign_id: int, station_id: str, **values: Any
) -> None:
    await conn.execute(
        update(firmware_campaign_stations)
        .where(
            and_(
                firmware_campaign_stations.c.campaign_id == campaign_id,
                firmware_campaign_stations.c.station_id == station_id,
            )
        )
        .values(updated_at=utcnow(), **values)
    )


async def set_campaign(conn: AsyncConnection, campaign_id: int, **values: Any) -> None:
    await conn.execute(
        update(firmware_campaigns).where(firmware_campaigns.c.id == campaign_id).values(**values)
    )


async def active_campaign_entry(conn: AsyncConnection, station_id: str) -> dict[str, Any] | None:
    """The station's in-flight entry in a running campaign (the most recent one)."""
    query = (
        select(firmware_campaign_stations, firmware_campaigns.c.expected_version)
        .join(
            firmware_campaigns, firmware_campaigns.c.id == firmware_campaign_stations.c.campaign_id
        )
        .where(
            and_(
                firmware_campaign_stations.c.station_id == station_id,
                firmware_campaign_stations.c.state.in_(IN_FLIGHT),
                firmware_campaigns.c.status == "running",
            )
        )
        .order_by(firmware_campaign_stations.c.campaign_id.desc())
        .limit(1)
    )
    return _one((await conn.execute(query)).first())


async def link_latest_update(conn: AsyncConnection, station_id: str, campaign_id: int) -> None:
    latest = await conn.execute(
        select(func.max(firmware_updates.c.id)).where(firmware_updates.c.station_id == station_id)
    )
    update_id = latest.scalar()
    if update_id is not None:
        await conn.execute(
            update(firmware_updates)
            .where(firmware_updates.c.id == update_id)
            .values(campaign_id=campaign_id)
        )


async def may_await_boot(conn: AsyncConnection, station_ids: list[str]) -> set[str]:
    """Which of these stations might need a look at their next boot: an update that has not
    seen its boot yet, or an entry in flight in a running campaign. A superset (any such
    update, not only the latest): the exact checks then run for these few stations only."""
    updates = select(firmware_updates.c.station_id).where(
        firmware_updates.c.station_id.in_(station_ids),
        firmware_updates.c.booted_at.is_(None),
        firmware_updates.c.last_status.in_(_DOWNLOADED),
    )
    campaigns = (
        select(firmware_campaign_stations.c.station_id)
        .join(
            firmware_campaigns, firmware_campaigns.c.id == firmware_campaign_stations.c.campaign_id
        )
        .where(
            firmware_campaign_stations.c.station_id.in_(station_ids),
            firmware_campaign_stations.c.state.in_(IN_FLIGHT),
            firmware_campaigns.c.status == "running",
        )
    )
    rows = await conn.execute(updates.union(campaigns))
    return {row[0] for row in rows}
