"""Smart Charging: the profile library, typed commands (Set/Clear/GetComposite, remote start with a
profile), the profiles each station accepted, and WattHub's own composite schedule and preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from watthub.api import present
from watthub.api.deps import get_hub, require_token, run_command
from watthub.api.params import INT32_MAX, OcppIdPath
from watthub.api.present import ApiModel
from watthub.domain import smart_charging as sc
from watthub.smart_charging import validate_profile
from watthub.storage import smart_charging_repo as repo
from watthub.storage import stations_repo, transactions_repo
from watthub.timeutil import as_utc, format_ts, utcnow

router = APIRouter(tags=["smart charging"], dependencies=[Depends(require_token)])

Purpose = Literal["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]
Kind = Literal["Absolute", "Recurring", "Relative"]
Unit = Literal["A", "W"]


class ProfileIn(ApiModel):
    """A library profile: csChargingProfiles without transactionId (chargingProfileId = id)."""

    name: str = Field("", max_length=100)
    chargingProfileId: int | None = Field(None, gt=0, description="Default: next free id")
    stackLevel: int = Field(ge=0)
    chargingProfilePurpose: Purpose
    chargingProfileKind: Kind
    recurrencyKind: Literal["Daily", "Weekly"] | None = None
    validFrom: str | None = None
    validTo: str | None = None
    chargingSchedule: dict[str, Any]


def _library_profile(body: ProfileIn, profile_id: int) -> dict[str, Any]:
    profile = body.model_dump(exclude_none=True, exclude={"name", "chargingProfileId"})
    profile = {"chargingProfileId": profile_id, **profile}
    # A library profile has no connector yet: check it as it would be set on a fitting one.
    connector = 0 if body.chargingProfilePurpose == "ChargePointMaxProfile" else 1
    reasons = validate_profile(profile, connector_id=connector, context="set")
    if reasons:
        raise HTTPException(422, "Invalid charging profile: " + "; ".join(reasons))
    return profile


def _library_view(row: dict[str, Any]) -> dict[str, Any]:
    out = present.row(row) or {}
    return out


@router.get("/charging-profiles", summary="The charging profile library")
async def list_profiles(hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return [_library_view(r) for r in await repo.list_library(conn)]


@router.post("/charging-profiles", status_code=201, summary="Add a profile to the library")
async def create_profile(body: ProfileIn, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    try:
        async with hub.services.engine.begin() as conn:
            profile_id = body.chargingProfileId or await repo.next_library_id(conn)
            if await repo.get_library_profile(conn, profile_id) is not None:
                raise HTTPException(409, f"Charging profile {profile_id} already exists")
            profile = _library_profile(body, profile_id)
            await repo.save_library_profile(conn, profile_id, body.name, profile, new=True)
            row = await repo.get_library_profile(conn, profile_id)
    except IntegrityError as exc:
        raise HTTPException(409, "Charging profile id already exists") from exc
    return _library_view(row or {})


async def _library_or_404(hub: Any, profile_id: int) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        row = await repo.get_library_profile(conn, profile_id)
    if row is None:
        raise HTTPException(404, f"Charging profile {profile_id} is not in the library")
    return row


@router.get("/charging-profiles/{profile_id}", summary="One library profile")
async def get_profile(profile_id: OcppIdPath, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    return _library_view(await _library_or_404(hub, profile_id))


@router.put("/charging-profiles/{profile_id}", summary="Replace a library profile")
async def update_profile(
    profile_id: OcppIdPath, body: ProfileIn, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    await _library_or_404(hub, profile_id)
    if body.chargingProfileId not in (None, profile_id):
        raise HTTPException(422, "chargingProfileId cannot be changed (it is the library id)")
    profile = _library_profile(body, profile_id)
    async with hub.services.engine.begin() as conn:
        await repo.save_library_profile(conn, profile_id, body.name, profile, new=False)
    return _library_view(await _library_or_404(hub, profile_id))


@router.delete("/charging-profiles/{profile_id}", status_code=204, summary="Delete from library")
async def delete_profile(profile_id: OcppIdPath, hub: Any = Depends(get_hub)) -> None:
    async with hub.services.engine.begin() as conn:
        if not await repo.delete_library_profile(conn, profile_id):
            raise HTTPException(404, f"Charging profile {profile_id} is not in the library")


# --- commands ---------------------------------------------------------------------------------------


class ProfileChoice(ApiModel):
    profileId: int | None = Field(None, description="A library profile")
    chargingProfile: dict[str, Any] | None = Field(None, description="An inline profile")


async def _chosen_profile(hub: Any, body: ProfileChoice) -> dict[str, Any]:
    if (body.profileId is None) == (body.chargingProfile is None):
        raise HTTPException(422, "Give exactly one of profileId (library) or chargingProfile")
    if body.profileId is not None:
        return dict((await _library_or_404(hub, body.profileId))["profile"])
    return dict(body.chargingProfile or {})


async def _running_tx(hub: Any, station_id: str, connector_id: int) -> int | None:
    if connector_id <= 0:
        return None
    async with hub.services.engine.connect() as conn:
        txs = await transactions_repo.open_transactions(conn, station_id, connector_id)
    return int(txs[-1]["id"]) if txs else None


class SetProfile(ProfileChoice):
    connectorId: int = Field(ge=0)
    transactionId: int | None = Field(
        None, description="TxProfile only; default: the connector's running transaction"
    )


@router.post(
    "/stations/{station_id}/charging-profiles",
    summary="SetChargingProfile from the library or inline (validated first; 422 with reasons)",
)
async def set_charging_profile(
    station_id: str,
    body: SetProfile,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    profile = await _chosen_profile(hub, body)
    if profile.get("chargingProfilePurpose") == "TxProfile":
        tx = body.transactionId or profile.get("transactionId")
        tx = tx or await _running_tx(hub, station_id, body.connectorId)
        if tx is not None:
            profile["transactionId"] = tx
    payload = {"connectorId": body.connectorId, "csChargingProfiles": profile}
    warnings = sc.collect_warnings()
    answer = await run_command(hub, station_id, "SetChargingProfile", payload, timeout)
    return {**answer, "sent": payload, "warnings": warnings}


class ClearProfile(ApiModel):
    id: int | None = Field(None, description="Only this profile (other criteria ignored)")
    connectorId: int | None = Field(None, ge=0)
    chargingProfilePurpose: Purpose | None = None
    stackLevel: int | None = Field(None, ge=0)


@router.post(
    "/stations/{station_id}/charging-profiles/clear",
    summary="ClearChargingProfile by id, by criteria (ANDed), or all (empty body)",
)
async def clear_charging_profile(
    station_id: str,
    body: ClearProfile,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    payload = body.model_dump(exclude_none=True)
    answer = await run_command(hub, station_id, "ClearChargingProfile", payload, timeout)
    return {**answer, "sent": payload}


class CompositeRequest(ApiModel):
    connectorId: int = Field(ge=0)
    duration: int = Field(gt=0)
    chargingRateUnit: Unit | None = None


@router.post(
    "/stations/{station_id}/composite-schedule",
    summary="GetCompositeSchedule: the station's answer, WattHub's own computation, differences",
)
async def get_composite_schedule(
    station_id: str,
    body: CompositeRequest,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    payload = body.model_dump(exclude_none=True)
    check = sc.collect_composite()
    answer = await run_command(hub, station_id, "GetCompositeSchedule", payload, timeout)
    return {
        "station": answer,
        "watthub": check.get("watthub"),
        "differences": check.get("differences"),
    }


class RemoteStartWithProfile(ProfileChoice):
    idTag: str = Field(max_length=20)
    connectorId: int | None = Field(None, gt=0)


@router.post(
    "/stations/{station_id}/remote-start-with-profile",
    summary="RemoteStartTransaction with a TxProfile from the library or inline",
)
async def remote_start_with_profile(
    station_id: str,
    body: RemoteStartWithProfile,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    profile = await _chosen_profile(hub, body)
    payload: dict[str, Any] = {"idTag": body.idTag, "chargingProfile": profile}
    if body.connectorId is not None:
        payload["connectorId"] = body.connectorId
    warnings = sc.collect_warnings()
    answer = await run_command(hub, station_id, "RemoteStartTransaction", payload, timeout)
    return {**answer, "sent": payload, "warnings": warnings}


# --- what WattHub knows ----------------------------------------------------------------------------


async def _station_or_404(hub: Any, station_id: str) -> None:
    async with hub.services.engine.connect() as conn:
        if await stations_repo.get_station(conn, station_id) is None:
            raise HTTPException(404, f"Station {station_id} is not registered")


@router.get(
    "/stations/{station_id}/charging-profiles",
    summary="The profiles the station has accepted, per connector, in installation order",
)
async def installed_profiles(station_id: str, hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    await _station_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        rows = await repo.installed_rows(conn, station_id)
    return [
        {
            "connectorId": r["connector_id"],
            "chargingProfileId": r["charging_profile_id"],
            "purpose": r["purpose"],
            "stackLevel": r["stack_level"],
            "transactionId": r["transaction_id"],
            "installedAt": format_ts(r["installed_at"]),
            "csChargingProfiles": r["profile"],
        }
        for r in rows
    ]


def _start(value: str | None) -> datetime:
    if value is None:
        return utcnow()
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))  # type: ignore[return-value]
    except ValueError as exc:
        raise HTTPException(422, f"start is not an ISO 8601 timestamp: {value!r}") from exc


@router.get(
    "/stations/{station_id}/composite-schedule",
    summary="WattHub's composite schedule from the accepted profiles (no station round trip)",
)
async def computed_composite(
    station_id: str,
    connectorId: int = Query(ge=0, le=INT32_MAX),
    duration: int = Query(3600, gt=0, le=31 * 86400),
    start: str | None = Query(None, description="ISO 8601; default now"),
    chargingRateUnit: Unit | None = None,
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    await _station_or_404(hub, station_id)
    return await sc.compute_composite(
        hub.services, station_id, connectorId, _start(start), duration, chargingRateUnit
    )


class PreviewRequest(SetProfile):
    duration: int = Field(3600, gt=0, le=31 * 86400)
    start: str | None = Field(None, description="ISO 8601; default now")
    chargingRateUnit: Unit | None = None
    compositeConnectorId: int | None = Field(
        None, ge=0, description="Connector whose composite to show; default connectorId"
    )


@router.post(
    "/stations/{station_id}/composite-schedule/preview",
    summary="The composite schedule with a candidate profile added (nothing is sent)",
)
async def preview_composite(
    station_id: str, body: PreviewRequest, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    await _station_or_404(hub, station_id)
    profile = await _chosen_profile(hub, body)
    running = await _running_tx(hub, station_id, body.connectorId)
    if profile.get("chargingProfilePurpose") == "TxProfile":
        tx = body.transactionId or profile.get("transactionId") or running
        if tx is not None:
            profile["transactionId"] = tx
    reasons = validate_profile(
        profile,
        connector_id=body.connectorId,
        context="set",
        connector_has_active_tx=(running is not None) if body.connectorId > 0 else None,
    )
    if reasons:
        raise HTTPException(422, "Invalid charging profile: " + "; ".join(reasons))
    start = _start(body.start)
    connector = body.connectorId if body.compositeConnectorId is None else body.compositeConnectorId
    args = (hub.services, station_id, connector, start, body.duration, body.chargingRateUnit)
    return {
        "current": await sc.compute_composite(*args),
        "withCandidate": await sc.compute_composite(*args, candidate=(body.connectorId, profile)),
        "candidate": {"connectorId": body.connectorId, "csChargingProfiles": profile},
    }
