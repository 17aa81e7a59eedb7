"""Stations: registration, settings, live state, message log and stored configuration."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import Field, field_validator
from sqlalchemy.exc import IntegrityError

from watthub.api import present
from watthub.api.deps import get_hub, require_token
from watthub.api.params import INT32_MAX, row_id_query
from watthub.api.present import ApiModel
from watthub.domain import station_ids
from watthub.domain.invalidation import STATION_CREDENTIALS, STATIONS
from watthub.security.passwords import (
    generate_authorization_key,
    hash_password,
    station_password,
)
from watthub.storage import (
    console_repo,
    messages_repo,
    security_repo,
    stations_repo,
    transactions_repo,
)

router = APIRouter(tags=["stations"], dependencies=[Depends(require_token)])

BootPolicy = Literal["Accepted", "Pending", "Rejected"]
ValidationPolicy = Literal["strict", "lenient"]


class StationCreate(ApiModel):
    id: str = Field(description="chargePointId (no control characters, '/' or surrounding spaces)")
    description: str = ""
    password: str | None = Field(None, min_length=8, max_length=40)
    bootPolicy: BootPolicy = "Accepted"
    heartbeatInterval: int | None = Field(None, gt=0, le=INT32_MAX)
    validationPolicy: ValidationPolicy = "strict"
    securityProfile: int | None = Field(
        None, ge=0, le=3, description="Default: 1 with a password, 0 without (docs/security.md)"
    )

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        reason = station_ids.problem(value)
        if reason is not None:
            raise ValueError(reason)
        return value


class StationUpdate(ApiModel):
    description: str | None = None
    bootPolicy: BootPolicy | None = None
    heartbeatInterval: int | None = Field(None, gt=0, le=INT32_MAX)
    validationPolicy: ValidationPolicy | None = None


class PasswordChange(ApiModel):
    password: str | None = Field(
        None, min_length=8, max_length=40, description="Omit to let WattHub generate one"
    )


def _station_view(
    station: dict[str, Any], connectors: list[dict[str, Any]], connected: set[str]
) -> dict:
    out = present.row(station) or {}
    out["hasPassword"] = bool(station.get("password_hash"))
    out["connected"] = station["id"] in connected
    out["connectors"] = present.rows(connectors)
    return out


async def _get_or_404(hub: Any, station_id: str) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        station = await stations_repo.get_station(conn, station_id)
    if station is None:
        raise HTTPException(404, f"Station {station_id} is not registered")
    return station


@router.get(
    "/stations",
    summary="Stations with connection state and connectors (filtered and paged in the database)",
    description="`q` searches id, description, vendor and model; `state` is one of online, "
    "offline, faulted, charging, available. The header `X-Total-Count` gives the number of "
    "matching stations.",
)
async def list_stations(
    response: Response,
    q: str | None = Query(None, max_length=255),
    state: Literal["online", "offline", "faulted", "charging", "available"] | None = None,
    limit: int = Query(100000, ge=1, le=100000),
    offset: int = Query(0, ge=0),
    hub: Any = Depends(get_hub),
) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        stations, total = await console_repo.page_stations(
            conn, q=q, state=state, limit=limit, offset=offset
        )
        connectors = await console_repo.connectors_of(conn, [s["id"] for s in stations])
    response.headers["X-Total-Count"] = str(total)
    connected = await hub.services.gateway.connected_among([s["id"] for s in stations])
    return [_station_view(s, connectors[s["id"]], connected) for s in stations]


@router.post("/stations", status_code=201, summary="Register a station")
async def create_station(body: StationCreate, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    password_hash = (
        await asyncio.to_thread(hash_password, station_password(body.password))
        if body.password
        else None
    )
    try:
        async with hub.services.engine.begin() as conn:
            station = await stations_repo.create_station(
                conn,
                body.id,
                description=body.description,
                password_hash=password_hash,
                boot_policy=body.bootPolicy,
                heartbeat_interval=body.heartbeatInterval,
                validation_policy=body.validationPolicy,
                **(
                    {"security_profile": body.securityProfile}
                    if body.securityProfile is not None
                    else {}
                ),
            )
    except IntegrityError as exc:
        raise HTTPException(409, f"Station {body.id} already exists") from exc
    return _station_view(station, [], set())


@router.get("/stations/{station_id}", summary="One station: boot info, state, connectors")
async def get_station(station_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    station = await _get_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        connectors = await stations_repo.list_connectors(conn, station_id)
    connected = await hub.services.gateway.connected_among([station_id])
    return _station_view(station, connectors, connected)


@router.patch("/stations/{station_id}", summary="Change a station's settings")
async def update_station(
    station_id: str, body: StationUpdate, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    await _get_or_404(hub, station_id)
    values = {
        column: value
        for column, value in (
            ("description", body.description),
            ("boot_policy", body.bootPolicy),
            ("heartbeat_interval", body.heartbeatInterval),
            ("validation_policy", body.validationPolicy),
        )
        if value is not None
    }
    if values:
        async with hub.services.engine.begin() as conn:
            await stations_repo.update_station(conn, station_id, **values)
        hub.services.invalidation.publish(STATIONS, station_id)
        session = hub.registry.get(station_id)
        if session is not None:
            session.ctx.station.update(values)
        # The node holding the station (maybe another one) reloads its settings.
        hub.services.invalidation.publish(STATIONS, station_id)
    return await get_station(station_id, hub)


@router.delete("/stations/{station_id}", status_code=204, summary="Remove a station")
async def delete_station(station_id: str, hub: Any = Depends(get_hub)) -> None:
    await _get_or_404(hub, station_id)
    await hub.services.gateway.disconnect(station_id, "station removed")
    async with hub.services.engine.begin() as conn:
        await stations_repo.delete_station(conn, station_id)
    _credentials_changed(hub, station_id)


@router.put(
    "/stations/{station_id}/password",
    summary="Set the station's Basic-auth password (generated when omitted; shown once)",
)
async def set_password(
    station_id: str, body: PasswordChange, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    station = await _get_or_404(hub, station_id)
    password = body.password or generate_authorization_key()
    password_hash = await asyncio.to_thread(hash_password, station_password(password))
    async with hub.services.engine.begin() as conn:
        await stations_repo.update_station(conn, station_id, password_hash=password_hash)
        if station["security_profile"] == 0:
            # A password only counts from profile 1 on: setting one switches Basic auth on.
            await security_repo.change_profile(
                conn, station_id, 1, "operator", "password set through the API"
            )
    _credentials_changed(hub, station_id)
    return {"stationId": station_id, "password": password}


def _credentials_changed(hub: Any, station_id: str) -> None:
    """Drop the cached row and verified credentials of the station, on every node."""
    hub.services.invalidation.publish(STATIONS, station_id)
    hub.services.invalidation.publish(STATION_CREDENTIALS, station_id)


@router.delete("/stations/{station_id}/password", status_code=204, summary="Remove the password")
async def clear_password(station_id: str, hub: Any = Depends(get_hub)) -> None:
    station = await _get_or_404(hub, station_id)
    async with hub.services.engine.begin() as conn:
        await stations_repo.update_station(conn, station_id, password_hash=None)
        if station["security_profile"] == 1:
            await security_repo.change_profile(
                conn, station_id, 0, "operator", "password removed through the API"
            )
    _credentials_changed(hub, station_id)


@router.get("/stations/{station_id}/messages", summary="The station's OCPP message log")
async def messages(
    station_id: str,
    limit: int = Query(200, ge=1, le=5000),
    before_id: int | None = row_id_query(alias="beforeId"),
    after_id: int | None = row_id_query(alias="afterId"),  # only newer entries
    action: str | None = None,
    direction: Literal["in", "out"] | None = None,
    hub: Any = Depends(get_hub),
) -> list[dict[str, Any]]:
    await _get_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        entries = await messages_repo.list_messages(
            conn,
            station_id,
            limit=limit,
            before_id=before_id,
            after_id=after_id,
            action=action,
            direction=direction,
        )
    return [present.message(e) for e in entries]


@router.get("/stations/{station_id}/configuration", summary="Configuration last read from it")
async def configuration(station_id: str, hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    await _get_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        return present.rows(await stations_repo.get_configuration(conn, station_id))


@router.get("/stations/{station_id}/status-history", summary="Connector status history")
async def status_history(
    station_id: str, limit: int = Query(200, ge=1, le=5000), hub: Any = Depends(get_hub)
) -> list[dict[str, Any]]:
    await _get_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        return present.rows(await stations_repo.status_history_for(conn, station_id, limit))


@router.get(
    "/stations/{station_id}/anomalies",
    summary="StopTransactions and schema violations that were flagged (never refused)",
)
async def anomalies(station_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    await _get_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        stops = await transactions_repo.stop_anomalies_for(conn, station_id)
        violations = await messages_repo.list_validation_events(conn, station_id)
    return {"stopTransactions": present.rows(stops), "validation": present.rows(violations)}
