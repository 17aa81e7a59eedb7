"""Reservations: reserve, cancel, list."""

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import Field

from watthub.api import present
from watthub.api.deps import get_hub, require_token, run_command
from watthub.api.present import ApiModel
from watthub.api.typed import command_endpoint
from watthub.storage import reservations_repo
from watthub.timeutil import as_utc, format_ts, utcnow

router = APIRouter(tags=["reservations"], dependencies=[Depends(require_token)])


class ReserveNow(ApiModel):
    connectorId: int = Field(ge=0, description="0 = any connector of the station")
    idTag: str = Field(min_length=1, max_length=20)
    expiryDate: datetime | None = Field(None, description="With a time zone")
    expiresIn: int | None = Field(None, gt=0, description="Seconds from now (instead of a date)")
    parentIdTag: str | None = Field(None, max_length=20, description="Default: the tag's group")
    reservationId: int | None = Field(None, description="Default: WattHub assigns a unique id")


class CancelReservation(ApiModel):
    reservationId: int


@router.post("/stations/{station_id}/reserve-now", summary="Reserve a connector or the station")
async def reserve(
    station_id: str,
    body: ReserveNow,
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    if (body.expiryDate is None) == (body.expiresIn is None):
        raise HTTPException(422, "Give either expiryDate or expiresIn")
    if body.expiryDate is not None:
        if body.expiryDate.tzinfo is None:
            raise HTTPException(422, "expiryDate needs a time zone (for example a trailing Z)")
        expiry = as_utc(body.expiryDate)
    else:
        expiry = utcnow() + timedelta(seconds=body.expiresIn or 0)
    assert expiry is not None
    if expiry <= utcnow():
        raise HTTPException(422, "expiryDate is in the past")
    payload: dict[str, Any] = {
        "connectorId": body.connectorId,
        "idTag": body.idTag,
        "expiryDate": format_ts(expiry),
    }
    if body.parentIdTag:
        payload["parentIdTag"] = body.parentIdTag
    if body.reservationId is not None:
        payload["reservationId"] = body.reservationId
    answer = await run_command(hub, station_id, "ReserveNow", payload, timeout)
    return {
        **answer,
        "reservationId": payload["reservationId"],
        "expiryDate": payload["expiryDate"],
    }


command_endpoint(
    router, "cancel-reservation", "CancelReservation", CancelReservation, "Cancel a reservation"
)


@router.get("/reservations", summary="Reservations, newest first")
async def list_all(
    station_id: str | None = Query(None, alias="stationId"),
    status: str | None = None,
    hub: Any = Depends(get_hub),
) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return present.rows(await reservations_repo.list_reservations(conn, station_id, status))


@router.get("/stations/{station_id}/reservations", summary="A station's reservations")
async def list_station(
    station_id: str, status: str | None = None, hub: Any = Depends(get_hub)
) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return present.rows(await reservations_repo.list_reservations(conn, station_id, status))
