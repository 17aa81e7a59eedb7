"""Firmware Management profile (OCPP 1.6 §5.7 GetDiagnostics, §5.19 UpdateFirmware, §4.4/§4.5
status notifications).

* Every FirmwareStatusNotification and DiagnosticsStatusNotification (Idle included) is stored
  and answered with an empty conf once committed.
* UpdateFirmware: ``firmwareId`` (an image hosted by WattHub) becomes the location; retrieveDate
  defaults to now (it is required by the schema).
* GetDiagnostics: without a location WattHub hands out its own, unguessable upload location
  (HTTP by default, FTP with ``transport: "ftp"`` when the FTP receiver is on). GetLog (security
  whitepaper) uses the same upload locations: :func:`own_upload_location`.
* The firmware version reported at the first boot after an install is stored with the update."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.aio import BatchedLookup
from watthub.domain import events
from watthub.domain.commands import CommandError, CommandNotAllowed, InvalidCommand
from watthub.domain.context import Services, StationContext
from watthub.domain.registry import after_command, before_command, on, on_startup
from watthub.files import store
from watthub.files.ftp import FtpAccount
from watthub.files.runtime import FEATURE_KEY, FirmwareRuntime, runtime
from watthub.storage import firmware_repo, stations_repo
from watthub.timeutil import format_ts, now_ts, parse_ts, parse_ts_or_none, utcnow


class FirmwareNotFound(CommandError):
    status_code = 404


@on("FirmwareStatusNotification")
async def firmware_status_notification(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    status = p["status"]

    async def op(conn: AsyncConnection) -> dict[str, Any] | None:
        return await firmware_repo.record_status(conn, ctx.station_id, "firmware", status)

    entry = await ctx.services.writer.run(op)
    ctx.log.info("firmware status %s", status)
    ctx.services.events.emit(
        events.FIRMWARE_STATUS, station_id=ctx.station_id, kind="firmware", status=status
    )
    rt = ctx.services.features.get("firmware")
    if entry is not None and rt is not None:
        rt.wake_campaigns()
    return {}


@on("DiagnosticsStatusNotification")
async def diagnostics_status_notification(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    status = p["status"]

    async def op(conn: AsyncConnection) -> None:
        await firmware_repo.record_status(conn, ctx.station_id, "diagnostics", status)

    await ctx.services.writer.run(op)
    ctx.log.info("diagnostics status %s", status)
    ctx.services.events.emit(
        events.FIRMWARE_STATUS, station_id=ctx.station_id, kind="diagnostics", status=status
    )
    return {}


def _normalise_time(payload: dict[str, Any], key: str) -> None:
    value = payload.get(key)
    if value is None:
        return
    try:
        payload[key] = format_ts(parse_ts(str(value)))
    except ValueError as exc:
        raise InvalidCommand(f"{key} is not an ISO 8601 date-time: {value!r}") from exc


@before_command("UpdateFirmware")
async def resolve_firmware_location(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    payload = dict(payload)
    firmware_id = payload.pop("firmwareId", None)
    if firmware_id is not None:
        if payload.get("location"):
            raise InvalidCommand("Give either a location or a firmwareId, not both")
        if not isinstance(firmware_id, int) or isinstance(firmware_id, bool):
            raise InvalidCommand("firmwareId must be an integer")
        async with services.engine.connect() as conn:
            image = await firmware_repo.get_image(conn, firmware_id)
        if image is None:
            raise FirmwareNotFound(f"No firmware image {firmware_id} (see GET /firmware)")
        payload["location"] = runtime(services).firmware_url(image)
    if not payload.get("location"):
        raise InvalidCommand(
            "UpdateFirmware needs a location (URL the station downloads from) or the firmwareId "
            "of an image uploaded to WattHub"
        )
    payload.setdefault("retrieveDate", now_ts())
    _normalise_time(payload, "retrieveDate")
    return payload


@after_command("UpdateFirmware")
async def record_firmware_update(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    rt = runtime(services)

    async def op(conn: AsyncConnection) -> None:
        image_id = None
        token = rt.firmware_token_from(sent["location"])
        if token is not None:
            image = await firmware_repo.get_image_by_token(conn, token)
            image_id = image["id"] if image else None
        station = await stations_repo.get_station(conn, station_id)
        await firmware_repo.insert_update(
            conn,
            station_id=station_id,
            location=sent["location"],
            retrieve_date=parse_ts(sent["retrieveDate"]),
            retries=sent.get("retries"),
            retry_interval=sent.get("retryInterval"),
            firmware_image_id=image_id,
            version_before=station.get("firmware_version") if station else None,
        )

    await services.writer.run(op)


@before_command("GetDiagnostics")
async def choose_diagnostics_location(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    payload = dict(payload)
    transport = payload.pop("transport", None)
    _normalise_time(payload, "startTime")
    _normalise_time(payload, "stopTime")
    rt = runtime(services)
    row: dict[str, Any] = {
        "station_id": station_id,
        "start_time": parse_ts_or_none(payload.get("startTime")),
        "stop_time": parse_ts_or_none(payload.get("stopTime")),
        "retries": payload.get("retries"),
        "retry_interval": payload.get("retryInterval"),
    }
    if payload.get("location"):
        if transport is not None:
            raise InvalidCommand("transport only applies when WattHub chooses the location")
        row.update(transport="external", location=payload["location"])
    else:
        row.update(own_upload_location(rt, transport))
    payload["location"] = row["location"]

    async def op(conn: AsyncConnection) -> int:
        return await firmware_repo.insert_diagnostics_request(conn, **row)

    # Stored before sending: a quick station may upload as soon as it has answered.
    request_id = await services.writer.run(op)
    open_upload_location(rt, station_id, request_id, row)
    return payload


def own_upload_location(rt: FirmwareRuntime, transport: str | None) -> dict[str, Any]:
    """A new, unguessable WattHub upload location: the ``diagnostics_requests`` columns
    (token, transport, location, FTP account). Store the row with
    ``firmware_repo.insert_diagnostics_request`` before sending, then :func:`open_upload_location`.
    """
    transport = transport or "http"
    token = store.new_token()
    if transport == "http":
        return {"token": token, "transport": "http", "location": rt.upload_url(token)}
    if transport == "ftp":
        if rt.ftp is None:
            raise CommandNotAllowed(
                "The FTP receiver is off: set ftp_enabled (WATTHUB_FTP_ENABLED=true)"
            )
        user, password = f"diag-{secrets.token_hex(6)}", secrets.token_urlsafe(18)
        return {
            "token": token,
            "transport": "ftp",
            "location": rt.ftp_location(user, password),
            "ftp_user": user,
            "ftp_password": password,
        }
    raise InvalidCommand(f"transport must be 'http' or 'ftp', not {transport!r}")


def open_upload_location(
    rt: FirmwareRuntime, station_id: str, request_id: int, row: dict[str, Any]
) -> None:
    """Make a stored location usable: HTTP uploads are looked up by token; FTP needs an account."""
    if row["transport"] == "ftp":
        assert rt.ftp is not None
        rt.ftp.add_account(
            FtpAccount(
                row["ftp_user"],
                row["ftp_password"],
                station_id,
                request_id,
                rt.data_dir / store.diagnostics_dir(station_id, row["token"]),
            )
        )


@after_command("GetDiagnostics")
async def record_diagnostics_answer(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    async def op(conn: AsyncConnection) -> None:
        await firmware_repo.answer_diagnostics_request(
            conn, station_id, sent["location"], answer.get("fileName")
        )

    await services.writer.run(op)


_BOOT_READS = "firmware.boot_reads"
_BOOT_CANDIDATES = "firmware.boot_candidates"


async def on_station_booted(services: Services, station_id: str, status: str) -> None:
    """Event listener: remember the version a station reports after a firmware install."""

    async def relevant(conn: AsyncConnection) -> dict[str, Any] | None:
        # Reads first (cheap, no write lock): most boots concern no update and no campaign.
        station = await stations_repo.get_station(conn, station_id)
        if station is None:
            return None
        if await firmware_repo.latest_update_awaits_boot(conn, station_id):
            return station
        if await firmware_repo.active_campaign_entry(conn, station_id) is not None:
            return station
        return None

    # In a reconnect storm every station boots at once: the boots of one loop iteration share
    # one query that finds the few stations with anything to check (almost always none).
    candidates = services.features.get(_BOOT_CANDIDATES)
    if candidates is None:

        async def fetch(ids: list[str]) -> dict[str, bool]:
            found = await services.read(lambda conn: firmware_repo.may_await_boot(conn, ids))
            return dict.fromkeys(found, True)

        candidates = services.features[_BOOT_CANDIDATES] = BatchedLookup(fetch)
    if not await candidates.get(station_id):
        return
    # Bounded: unbounded, these reads once took every pooled connection (PostgreSQL) until
    # checkouts timed out. Queued here, they just run a bit later.
    gate = services.features.get(_BOOT_READS)
    if gate is None:
        gate = services.features[_BOOT_READS] = asyncio.Semaphore(4)
    async with gate:
        station = await services.read(relevant)
    if station is None:
        return
    version = station.get("firmware_version")
    booted_at = station.get("last_boot_at") or utcnow()

    async def op(conn: AsyncConnection) -> bool:
        await firmware_repo.record_boot_version(conn, station_id, version, booted_at)
        entry = await firmware_repo.active_campaign_entry(conn, station_id)
        # A station that reboots into the expected version has installed it, even if its
        # FirmwareStatusNotification(Installed) is lost or never sent.
        if entry is not None and entry["expected_version"] and version == entry["expected_version"]:
            await firmware_repo.set_campaign_station(
                conn,
                entry["campaign_id"],
                station_id,
                state="installed",
                detail=f"booted with firmware {version}",
            )
            return True
        return False

    rt = services.features.get(FEATURE_KEY)
    if await services.writer.run(op) and rt is not None:
        rt.wake_campaigns()


@on_startup
async def subscribe(services: Services) -> None:
    async def booted(station_id: str, status: str) -> None:
        await on_station_booted(services, station_id, status)

    services.events.subscribe(events.STATION_BOOTED, booted)
