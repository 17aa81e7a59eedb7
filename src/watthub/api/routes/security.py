"""Security whitepaper endpoints: profiles (operator-only downgrade, audited), password rotation,
certificates (install, list, delete, renew, expiring), security events, GetLog and signed
firmware updates.

(No ``from __future__ import annotations`` here: FastAPI must see the real body types.)"""

import asyncio
import base64
import binascii
import datetime as dt
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import Field

from watthub.api import present
from watthub.api.deps import get_hub, require_token, run_command
from watthub.api.params import RowId
from watthub.api.present import ApiModel
from watthub.api.typed import command_endpoint
from watthub.domain import pki_store
from watthub.domain.invalidation import STATIONS
from watthub.security import firmware_signing, pki
from watthub.security.passwords import generate_authorization_key
from watthub.storage import firmware_repo, security_repo, stations_repo
from watthub.storage.tables_security import log_requests, signed_firmware_updates

router = APIRouter(tags=["security"], dependencies=[Depends(require_token)])

CertificateUse = Literal["CentralSystemRootCertificate", "ManufacturerRootCertificate"]
HashAlgorithm = Literal["SHA256", "SHA384", "SHA512"]


async def _station_or_404(hub: Any, station_id: str) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        station = await stations_repo.get_station(conn, station_id)
    if station is None:
        raise HTTPException(404, f"Station {station_id} is not registered")
    return station


# -- security profile --------------------------------------------------------------------------


class ProfileChange(ApiModel):
    profile: int = Field(ge=0, le=3, description="0 none, 1 Basic, 2 TLS+Basic, 3 mutual TLS")
    reason: str = Field(min_length=1, max_length=500, description="Kept in the audit trail")


@router.get("/stations/{station_id}/security-profile", summary="Profile and its audit trail")
async def get_profile(station_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    station = await _station_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        changes = await security_repo.profile_changes(conn, station_id)
    return {
        "stationId": station_id,
        "securityProfile": station["security_profile"],
        "changes": present.rows(changes),
    }


@router.put(
    "/stations/{station_id}/security-profile",
    summary="Set the profile WattHub accepts (operator only; the only way to lower it)",
)
async def set_profile(
    station_id: str, body: ProfileChange, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    await _station_or_404(hub, station_id)
    async with hub.services.engine.begin() as conn:
        old = await security_repo.change_profile(
            conn, station_id, body.profile, "operator", body.reason
        )
    hub.services.invalidation.publish(STATIONS, station_id)
    return {"stationId": station_id, "securityProfile": body.profile, "previous": old}


@router.post(
    "/stations/{station_id}/rotate-password",
    summary="Generate a password, set it with ChangeConfiguration(AuthorizationKey)",
    description="WattHub switches to the new password only when the station answers Accepted; "
    "otherwise the old password stays valid. The password is never returned or logged.",
)
async def rotate_password(
    station_id: str,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    await _station_or_404(hub, station_id)
    key = generate_authorization_key()
    answer = await run_command(
        hub, station_id, "ChangeConfiguration", {"key": "AuthorizationKey", "value": key}, timeout
    )
    return {
        "stationId": station_id,
        "status": answer.get("status"),
        "switched": answer.get("status") == "Accepted",
    }


class SignedOnly(ApiModel):
    enabled: bool


@router.put(
    "/stations/{station_id}/signed-firmware-only",
    summary="Never send this station the unsigned UpdateFirmware",
)
async def set_signed_only(
    station_id: str, body: SignedOnly, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    await _station_or_404(hub, station_id)
    async with hub.services.engine.begin() as conn:
        await stations_repo.update_station(conn, station_id, signed_firmware_only=body.enabled)
    hub.services.invalidation.publish(STATIONS, station_id)
    return {"stationId": station_id, "signedFirmwareOnly": body.enabled}


# -- security events ---------------------------------------------------------------------------


@router.get("/stations/{station_id}/security-events", summary="Security events of a station")
async def station_events(
    station_id: str,
    critical_only: bool = Query(False, alias="criticalOnly"),
    limit: int = Query(200, ge=1, le=5000),
    hub: Any = Depends(get_hub),
) -> list[dict[str, Any]]:
    await _station_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        rows = await security_repo.list_events(
            conn, station_id, critical_only=critical_only, limit=limit
        )
    return present.rows(rows)


@router.get("/security-events", summary="Security events of all stations, newest first")
async def all_events(
    critical_only: bool = Query(False, alias="criticalOnly"),
    limit: int = Query(200, ge=1, le=5000),
    hub: Any = Depends(get_hub),
) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        rows = await security_repo.list_events(conn, critical_only=critical_only, limit=limit)
    return present.rows(rows)


# -- certificates ------------------------------------------------------------------------------


@router.get(
    "/stations/{station_id}/certificates",
    summary="Certificates installed on the station and the ones WattHub issued to it",
)
async def station_certificates(station_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    await _station_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        installed = await security_repo.installed(conn, station_id)
        issued = await security_repo.issued(conn, station_id)
    return {"installed": present.rows(installed), "issued": present.rows(issued)}


class InstallCertificate(ApiModel):
    certificateType: CertificateUse
    certificate: str | None = Field(
        None,
        max_length=5500,
        description="PEM; omit to install WattHub's own root CA (CentralSystemRootCertificate)",
    )


@router.post(
    "/stations/{station_id}/install-certificate", summary="InstallCertificate (a root certificate)"
)
async def install_certificate(
    station_id: str,
    body: InstallCertificate,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    pem = body.certificate
    if pem is None:
        directory = pki_store.ca_dir(hub.services.settings)
        if not directory.exists(pki.CaDirectory.ROOT_CA):
            raise HTTPException(
                409, "No certificate given and no WattHub root CA (watthub ca init)"
            )
        pem = pki.certificate_to_pem(directory.load_certificates(pki.CaDirectory.ROOT_CA)[-1])
    try:
        pem = pki.normalize_pem(pem)
        pki.load_certificate(pem)
    except ValueError as exc:
        raise HTTPException(422, f"certificate is not a PEM certificate: {exc}") from exc
    payload = {"certificateType": body.certificateType, "certificate": pem}
    return await run_command(hub, station_id, "InstallCertificate", payload, timeout)


@router.delete(
    "/stations/{station_id}/certificates/{cert_id}",
    summary="DeleteCertificate with the hash data the station reported (M04.FR.07)",
)
async def delete_certificate(
    station_id: str,
    cert_id: RowId,
    hash_algorithm: HashAlgorithm | None = Query(None, alias="hashAlgorithm"),
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        row = await security_repo.get_installed(conn, station_id, cert_id)
    if row is None:
        raise HTTPException(404, f"No certificate {cert_id} known on station {station_id}")
    if row["issuer_name_hash"] and (hash_algorithm in (None, row["hash_algorithm"])):
        data = {
            "hashAlgorithm": row["hash_algorithm"],
            "issuerNameHash": row["issuer_name_hash"],
            "issuerKeyHash": row["issuer_key_hash"],
            "serialNumber": row["serial_number"],
        }
    elif row["certificate"] and pki.is_self_signed(pki.load_certificate(row["certificate"])):
        data = pki.certificate_hash_data(row["certificate"], None, hash_algorithm or "SHA256")
    else:
        raise HTTPException(
            409, "The hash data is unknown: run GetInstalledCertificateIds for this type first"
        )
    return await run_command(
        hub, station_id, "DeleteCertificate", {"certificateHashData": data}, timeout
    )


@router.post(
    "/stations/{station_id}/renew-certificate",
    summary="ExtendedTriggerMessage(SignChargePointCertificate): the station sends a new CSR",
)
async def renew_certificate(
    station_id: str,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    payload = {"requestedMessage": "SignChargePointCertificate"}
    return await run_command(hub, station_id, "ExtendedTriggerMessage", payload, timeout)


@router.get("/certificates/expiring", summary="Certificates that expire soon")
async def expiring(
    days: float | None = Query(None, gt=0, description="Default: cert_expiry_warning_days"),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    s = hub.services.settings
    within = days if days is not None else s.cert_expiry_warning_days
    limit = dt.datetime.now(dt.UTC) + dt.timedelta(days=within)
    async with hub.services.engine.connect() as conn:
        stations = await security_repo.expiring_issued(conn, limit)
    directory = pki_store.ca_dir(s)
    own = pki.list_expiring(directory.all_certificates(), within) if directory.path.is_dir() else []
    return {
        "withinDays": within,
        "stations": present.rows(stations),
        "watthub": [
            {"subject": c.subject, "serial": c.serial, "notAfter": c.not_after.isoformat()}
            for c in own
        ],
    }


class CertificateHashData(ApiModel):
    hashAlgorithm: HashAlgorithm
    issuerNameHash: str = Field(max_length=128)
    issuerKeyHash: str = Field(max_length=128)
    serialNumber: str = Field(max_length=40)


class GetInstalledCertificateIds(ApiModel):
    certificateType: CertificateUse


class DeleteCertificate(ApiModel):
    certificateHashData: CertificateHashData


class CertificateSigned(ApiModel):
    certificateChain: str = Field(max_length=10000)


class ExtendedTriggerMessage(ApiModel):
    requestedMessage: Literal[
        "BootNotification",
        "LogStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "SignChargePointCertificate",
        "StatusNotification",
    ]
    connectorId: int | None = Field(None, gt=0)


class LogParameters(ApiModel):
    remoteLocation: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="Where the station uploads; default: a WattHub upload location",
    )
    oldestTimestamp: dt.datetime | None = None
    latestTimestamp: dt.datetime | None = None


class GetLog(ApiModel):
    logType: Literal["DiagnosticsLog", "SecurityLog"]
    log: LogParameters = Field(default_factory=LogParameters)
    transport: Literal["http", "ftp"] | None = Field(
        None, description="WattHub's own location only: http (default) or ftp (ftp_enabled)"
    )
    requestId: int | None = Field(None, description="Assigned by WattHub when omitted")
    retries: int | None = Field(None, ge=0)
    retryInterval: int | None = Field(None, ge=0)


for path, action, model, summary in [
    (
        "get-installed-certificate-ids",
        "GetInstalledCertificateIds",
        GetInstalledCertificateIds,
        "List installed root certificates (and track them)",
    ),
    ("delete-certificate", "DeleteCertificate", DeleteCertificate, "Delete by hash data"),
    ("certificate-signed", "CertificateSigned", CertificateSigned, "Send a certificate chain"),
    (
        "extended-trigger-message",
        "ExtendedTriggerMessage",
        ExtendedTriggerMessage,
        "Ask the station to send a message",
    ),
    ("get-log", "GetLog", GetLog, "Ask for the diagnostics or security log"),
]:
    command_endpoint(router, path, action, model, summary)


@router.get("/stations/{station_id}/log-requests", summary="GetLog requests and their status")
async def list_log_requests(station_id: str, hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    await _station_or_404(hub, station_id)
    views = []
    async with hub.services.engine.connect() as conn:
        for row in await security_repo.list_requests(conn, log_requests, station_id):
            view = present.row(row) or {}
            # Logs uploaded to WattHub's own location (GetLog without remoteLocation).
            files = await firmware_repo.files_uploaded_to(conn, station_id, row["location"])
            view["files"] = [
                {
                    "id": f["id"],
                    "filename": f["filename"],
                    "size": f["size"],
                    "sha256": f["sha256"],
                    "downloadPath": f"/api/v1/stations/{station_id}/diagnostics/files/{f['id']}",
                }
                for f in files
            ]
            views.append(view)
    return views


# -- signed firmware ---------------------------------------------------------------------------


class SignedFirmwareUpdate(ApiModel):
    location: str = Field(min_length=1, max_length=512, description="URL the station downloads")
    retrieveDateTime: dt.datetime | None = Field(None, description="Default: now")
    installDateTime: dt.datetime | None = None
    requestId: int | None = None
    retries: int | None = Field(None, ge=0)
    retryInterval: int | None = Field(None, ge=0)
    signature: str | None = Field(None, max_length=800, description="Base64")
    signingCertificate: str | None = Field(None, max_length=5500, description="PEM")
    signWithWattHubKey: bool = Field(
        False, description="Sign with the firmware-signing key in WattHub's PKI directory"
    )
    firmwarePath: str | None = Field(None, description="Local file to sign (on WattHub's host)")
    firmwareBase64: str | None = Field(None, description="The firmware bytes to sign")


@router.post(
    "/stations/{station_id}/signed-update-firmware",
    summary="SignedUpdateFirmware: given signature + certificate, or signed by WattHub",
)
async def signed_update_firmware(
    station_id: str,
    body: SignedFirmwareUpdate,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    if body.signWithWattHubKey:
        signature, certificate = await _sign_with_watthub(hub, body)
    else:
        if not body.signature or not body.signingCertificate:
            raise HTTPException(
                422, "Give signature and signingCertificate, or signWithWattHubKey with a firmware"
            )
        signature, certificate = body.signature, pki.normalize_pem(body.signingCertificate)
    retrieve = body.retrieveDateTime or dt.datetime.now(dt.UTC)
    try:
        payload = firmware_signing.signed_update_firmware_payload(
            request_id=body.requestId if body.requestId is not None else 0,
            location=body.location,
            retrieve_date_time=_aware(retrieve),
            install_date_time=_aware(body.installDateTime) if body.installDateTime else None,
            signing_certificate_pem=certificate,
            signature_b64=signature,
            retries=body.retries,
            retry_interval=body.retryInterval,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if body.requestId is None:
        payload.pop("requestId")  # the hook assigns the next one
    return await run_command(hub, station_id, "SignedUpdateFirmware", payload, timeout)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def _sign_with_watthub(hub: Any, body: SignedFirmwareUpdate) -> tuple[str, str]:
    directory = pki_store.ca_dir(hub.services.settings)
    name = pki.CaDirectory.FIRMWARE_SIGNING
    if not directory.exists(name) or not directory.key_path(name).is_file():
        raise HTTPException(409, "No firmware-signing key (watthub ca firmware-signing)")
    if body.firmwareBase64 is not None:
        try:
            firmware: Any = base64.b64decode(body.firmwareBase64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise HTTPException(422, "firmwareBase64 is not base64") from exc
    elif body.firmwarePath is not None:
        firmware = Path(body.firmwarePath)
        if not firmware.is_file():
            raise HTTPException(422, f"firmwarePath {body.firmwarePath} is not a file")
    else:
        raise HTTPException(422, "signWithWattHubKey needs firmwarePath or firmwareBase64")
    issued = directory.load_issued(name)
    assert issued.private_key is not None
    signature = await asyncio.to_thread(
        firmware_signing.sign_firmware, firmware, issued.private_key
    )
    return signature, issued.cert_pem


@router.get(
    "/stations/{station_id}/signed-firmware-updates",
    summary="SignedUpdateFirmware requests and every status the station reported",
)
async def list_signed_updates(station_id: str, hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    await _station_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        return present.rows(
            await security_repo.list_requests(conn, signed_firmware_updates, station_id)
        )
