"""Security whitepaper (edition 3) on the CSMS side: security events, CSR signing, the
certificate store of each station, GetLog, signed firmware, and the hooks that switch a station's
password or security profile only once the station has accepted the change."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain import events, pki_store
from watthub.domain.commands import CommandNotAllowed, InvalidCommand, send_command
from watthub.domain.context import Services, StationContext
from watthub.domain.firmware import open_upload_location, own_upload_location
from watthub.domain.invalidation import STATION_CREDENTIALS, STATIONS
from watthub.domain.registry import after_command, before_command, on
from watthub.files.runtime import runtime
from watthub.ocppj import config_keys, schemas
from watthub.security import pki
from watthub.security.passwords import decode_authorization_key, hash_password
from watthub.storage import firmware_repo, security_repo, stations_repo
from watthub.storage.tables_security import log_requests, signed_firmware_updates
from watthub.timeutil import parse_ts

log = logging.getLogger("watthub.security")

# Whitepaper ed.3 appendix 1: the security events flagged critical (pushed to the CSMS).
CRITICAL_EVENTS = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)


async def _station(services: Services, station_id: str) -> dict[str, Any]:
    async with services.engine.connect() as conn:
        station = await stations_repo.get_station(conn, station_id)
    assert station is not None
    return station


# -- station → CSMS --------------------------------------------------------------------------


@on("SecurityEventNotification")
async def security_event(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    event_type = payload["type"]
    critical = event_type in CRITICAL_EVENTS
    try:
        at = parse_ts(payload["timestamp"])
    except (ValueError, TypeError):
        at = None
    (ctx.log.warning if critical else ctx.log.info)(
        "security event %s (%s)", event_type, payload.get("techInfo", "")
    )

    async def op(conn: AsyncConnection) -> None:
        await security_repo.insert_event(
            conn,
            ctx.station_id,
            "station",
            event_type,
            critical=critical,
            tech_info=payload.get("techInfo"),
            event_time=at,
        )

    await ctx.services.writer.run(op)
    ctx.services.events.emit(
        events.SECURITY_EVENT,
        station_id=ctx.station_id,
        type=event_type,
        critical=critical,
        tech_info=payload.get("techInfo"),
        timestamp=payload.get("timestamp"),
    )
    return {}


@on("SignCertificate")
async def sign_certificate(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    """A02.FR.11/12: Accepted when we can process the CSR; the signing and CertificateSigned
    happen afterwards in their own task."""
    if not pki_store.can_sign_csr(ctx.settings):
        ctx.log.warning("SignCertificate rejected: no CA configured (watthub ca init)")
        return {"status": "Rejected"}
    # Never call the station from inside its own handler: the follow-up runs in its own task.
    ctx.services.events.spawn(
        "certificate_signing", _sign_and_send(ctx.services, ctx.station_id, payload["csr"])
    )
    return {"status": "Accepted"}


async def _sign_and_send(services: Services, station_id: str, csr: str) -> None:
    await asyncio.sleep(0.05)  # let SignCertificate.conf go out first
    station = await _station(services, station_id)
    try:
        chain = await pki_store.sign_csr(
            services.settings, station_id, station.get("serial_number"), csr
        )
    except pki.CsrRejected as exc:
        reason = exc.reason
        log.warning("[%s] CSR not signed: %s", station_id, reason)

        async def rejected(conn: AsyncConnection) -> None:
            await security_repo.insert_event(
                conn, station_id, "csms", "CsrRejected", critical=False, tech_info=reason[:255]
            )

        await services.writer.run(rejected)
        return
    leaf = pki.summarize_certificate(chain)

    async def add(conn: AsyncConnection) -> int:
        return await security_repo.add_issued(
            conn,
            station_id,
            serial_number=leaf.serial,
            subject=leaf.subject,
            not_after=leaf.not_after,
            certificate_chain=chain,
            status="Sent",
        )

    issued_id = await services.writer.run(add)
    status, detail = "Failed", None
    try:
        answer = await send_command(
            services, station_id, "CertificateSigned", {"certificateChain": chain}
        )
        status = answer.get("status", "Failed")
    except Exception as exc:  # the station went away, timed out, answered a CALLERROR...
        detail = str(exc)[:255]
        log.warning("[%s] CertificateSigned failed: %s", station_id, detail)

    async def done(conn: AsyncConnection) -> None:
        await security_repo.set_issued_status(conn, issued_id, status, detail)

    await services.writer.run(done)


@on("LogStatusNotification")
async def log_status(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    await _track_status(ctx, log_requests, payload)
    return {}


@on("SignedFirmwareStatusNotification")
async def signed_firmware_status(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    await _track_status(ctx, signed_firmware_updates, payload)
    return {}


async def _track_status(ctx: StationContext, table: Any, payload: dict[str, Any]) -> None:
    if payload["status"] == "Idle" and payload.get("requestId") is None:
        # A triggered "nothing in progress" report belongs to no request: attaching it to the
        # newest one would overwrite that request's final status (Uploaded, Installed...).
        ctx.log.info("%s: Idle (no request in progress)", table.name)
        return

    async def op(conn: AsyncConnection) -> bool:
        return await security_repo.record_status(
            conn, table, ctx.station_id, payload.get("requestId"), payload["status"]
        )

    if not await ctx.services.writer.run(op):
        ctx.log.info("%s for an unknown request %s", table.name, payload.get("requestId"))


# -- CSMS → station: profile and password ----------------------------------------------------


@before_command("ChangeConfiguration")
async def check_security_change(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    key, value = config_keys.canonical(payload.get("key")), str(payload.get("value", ""))
    if key != payload.get("key"):
        payload = {**payload, "key": key}  # what the after-hooks see is what was checked
    if key == config_keys.AUTHORIZATION_KEY:
        try:
            decode_authorization_key(value)
        except ValueError as exc:
            raise InvalidCommand(str(exc)) from exc
        if len(value) > 40:
            raise InvalidCommand("AuthorizationKey is at most 40 hex characters")
    elif key == config_keys.SECURITY_PROFILE:
        if not value.isdigit() or int(value) not in (1, 2, 3):
            raise InvalidCommand("SecurityProfile must be 1, 2 or 3")
        await _check_upgrade(services, await _station(services, station_id), int(value))
    return payload


async def _check_upgrade(services: Services, station: dict[str, Any], target: int) -> None:
    current = int(station.get("security_profile") or 0)
    s = services.settings
    if target <= current:
        # A00.FR.005: never lower (or re-set) the profile through OCPP.
        raise CommandNotAllowed(
            f"The station uses security profile {current}; OCPP may only raise it "
            "(a downgrade is an operator action: PUT /stations/{id}/security-profile)"
        )
    if target in (1, 2) and not station.get("password_hash"):
        raise CommandNotAllowed(
            f"Profile {target} needs a password: rotate it first (POST .../rotate-password)"
        )
    if target >= 2 and s.tls_port is None:
        raise CommandNotAllowed("WattHub has no TLS listener (set tls_port)")
    if target == 3 and s.tls_client_ca_file is None:
        raise CommandNotAllowed("Profile 3 needs tls_client_ca_file (the station CA)")


@after_command("ChangeConfiguration")
async def apply_security_change(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    if answer.get("status") != "Accepted":
        # A01.FR.04: Rejected/NotSupported keeps the old credentials and profile.
        return
    if config_keys.same_key(sent.get("key"), config_keys.AUTHORIZATION_KEY):
        password_hash = await asyncio.to_thread(
            hash_password, decode_authorization_key(sent["value"])
        )

        async def set_password(conn: AsyncConnection) -> None:
            await stations_repo.update_station(conn, station_id, password_hash=password_hash)

        await services.writer.run(set_password)
        services.invalidation.publish(STATIONS, station_id)
        services.invalidation.publish(STATION_CREDENTIALS, station_id)
        log.info("[%s] new password accepted by the station and in force", station_id)
    elif config_keys.same_key(sent.get("key"), config_keys.SECURITY_PROFILE):
        target = int(sent["value"])

        async def upgrade(conn: AsyncConnection) -> None:
            await security_repo.change_profile(
                conn, station_id, target, "ocpp", "ChangeConfiguration SecurityProfile accepted"
            )

        await services.writer.run(upgrade)
        services.invalidation.publish(STATIONS, station_id)
        log.info("[%s] security profile is now %d", station_id, target)


# -- certificates ----------------------------------------------------------------------------


@after_command("InstallCertificate")
async def remember_installed(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    if answer.get("status") != "Accepted":
        return
    pem = pki.normalize_pem(sent["certificate"])
    try:
        summary = pki.summarize_certificate(pem)
        hash_data = (
            pki.certificate_hash_data(pem) if pki.is_self_signed(pki.load_certificate(pem)) else {}
        )
    except ValueError:
        log.warning("[%s] installed certificate could not be parsed", station_id)
        return

    async def op(conn: AsyncConnection) -> None:
        await security_repo.add_installed(
            conn,
            station_id,
            certificate_type=sent["certificateType"],
            hash_algorithm=hash_data.get("hashAlgorithm"),
            issuer_name_hash=hash_data.get("issuerNameHash"),
            issuer_key_hash=hash_data.get("issuerKeyHash"),
            serial_number=summary.serial,
            certificate=pem,
            subject=summary.subject,
            not_after=summary.not_after,
        )

    await services.writer.run(op)


@after_command("GetInstalledCertificateIds")
async def reconcile_installed(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    if answer.get("status") not in ("Accepted", "NotFound"):
        return
    reported = answer.get("certificateHashData") or [] if answer["status"] == "Accepted" else []

    async def op(conn: AsyncConnection) -> None:
        await security_repo.reconcile_installed(conn, station_id, sent["certificateType"], reported)

    await services.writer.run(op)


@after_command("DeleteCertificate")
async def forget_deleted(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    if answer.get("status") not in ("Accepted", "NotFound"):
        return

    async def op(conn: AsyncConnection) -> None:
        await security_repo.remove_installed(conn, station_id, sent["certificateHashData"])

    await services.writer.run(op)


# -- logs and firmware -----------------------------------------------------------------------


def _check_schema(action: str, payload: dict[str, Any]) -> None:
    # Checked here too, so an invalid request never leaves a tracking row behind.
    problem = schemas.problems(action, payload)
    if problem is not None:
        raise InvalidCommand(f"Invalid {action} payload: {problem}")


@before_command("GetLog")
async def track_get_log(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Without ``log.remoteLocation`` the station uploads to WattHub itself: a new upload
    location of the firmware feature's file server (``transport`` "http", the default, or
    "ftp"), so the log is listed and downloadable like a diagnostics file."""
    out = dict(payload)
    transport = out.pop("transport", None)
    log_params = dict(out.get("log") or {})
    location = log_params.get("remoteLocation")
    upload: dict[str, Any] | None = None
    rt = None
    if location:
        if transport is not None:
            raise InvalidCommand("transport only applies when WattHub chooses the location")
    else:
        rt = runtime(services)
        upload = own_upload_location(rt, transport)
        location = log_params["remoteLocation"] = upload["location"]
        out["log"] = log_params

    async def op(conn: AsyncConnection) -> tuple[dict[str, Any], int | None]:
        if out.get("requestId") is None:
            out["requestId"] = await security_repo.next_request_id(conn, log_requests, station_id)
        _check_schema("GetLog", out)
        upload_id = None
        if upload is not None:
            # Stored before sending: a quick station may upload as soon as it has answered.
            upload_id = await firmware_repo.insert_diagnostics_request(
                conn,
                station_id=station_id,
                retries=out.get("retries"),
                retry_interval=out.get("retryInterval"),
                **upload,
            )
        await security_repo.add_request(
            conn,
            log_requests,
            station_id,
            request_id=out["requestId"],
            log_type=str(out.get("logType", "")),
            location=location,
        )
        return out, upload_id

    sent, upload_id = await services.writer.run(op)
    if upload is not None and rt is not None and upload_id is not None:
        open_upload_location(rt, station_id, upload_id, upload)
    return sent


@after_command("GetLog")
async def get_log_answer(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    async def op(conn: AsyncConnection) -> None:
        await security_repo.set_answer(
            conn,
            log_requests,
            station_id,
            sent["requestId"],
            answer=answer.get("status"),
            filename=answer.get("filename"),
        )
        # WattHub's own upload location: the station's file name names the uploaded file.
        await firmware_repo.answer_diagnostics_request(
            conn, station_id, sent["log"]["remoteLocation"], answer.get("filename")
        )

    await services.writer.run(op)


@before_command("SignedUpdateFirmware")
async def track_signed_update(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    firmware = payload.get("firmware") or {}

    async def op(conn: AsyncConnection) -> dict[str, Any]:
        out = dict(payload)
        if out.get("requestId") is None:
            out["requestId"] = await security_repo.next_request_id(
                conn, signed_firmware_updates, station_id
            )
        _check_schema("SignedUpdateFirmware", out)
        await security_repo.add_request(
            conn,
            signed_firmware_updates,
            station_id,
            request_id=out["requestId"],
            location=str(firmware.get("location", "")),
            signing_certificate=str(firmware.get("signingCertificate", "")),
            signature=str(firmware.get("signature", "")),
        )
        return out

    return await services.writer.run(op)


@after_command("SignedUpdateFirmware")
async def signed_update_answer(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    async def op(conn: AsyncConnection) -> None:
        await security_repo.set_answer(
            conn,
            signed_firmware_updates,
            station_id,
            sent["requestId"],
            answer=answer.get("status"),
        )

    await services.writer.run(op)


@before_command("UpdateFirmware")
async def refuse_unsigned_firmware(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    if (await _station(services, station_id)).get("signed_firmware_only"):
        raise CommandNotAllowed(
            f"Station {station_id} accepts signed firmware only: use SignedUpdateFirmware"
        )
    return payload
