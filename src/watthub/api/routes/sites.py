"""Sites: stations sharing a maximum current or power (WattHub's own load management)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import Field

from watthub.api import present
from watthub.api.deps import get_hub, require_token
from watthub.api.params import INT32_MAX
from watthub.api.present import ApiModel
from watthub.domain import sites as site_logic
from watthub.storage import smart_charging_repo as repo
from watthub.storage import stations_repo
from watthub.timeutil import format_ts

router = APIRouter(tags=["sites"], dependencies=[Depends(require_token)])


class SiteCreate(ApiModel):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[^/]+$")
    description: str = ""
    limit: float = Field(ge=0, description="Maximum for the whole site, in `unit`")
    unit: Literal["A", "W"] = "A"
    minPerConnector: float = Field(0, ge=0, description="Below this a transaction gets 0")
    stackLevel: int = Field(
        site_logic.DEFAULT_STACK_LEVEL,
        ge=0,
        le=INT32_MAX,
        description="stackLevel of the TxProfiles sent (lowered per station to its "
        "ChargeProfileMaxStackLevel)",
    )
    maxPerConnector: float | None = Field(
        None,
        gt=0,
        description="What one connector can draw at most; a station refusing its limit is "
        "counted at this (default: the whole site limit)",
    )


class SiteUpdate(ApiModel):
    description: str | None = None
    limit: float | None = Field(None, ge=0)
    minPerConnector: float | None = Field(None, ge=0)
    maxPerConnector: float | None = Field(None, gt=0)


async def _site_or_404(hub: Any, site_id: str) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        site = await repo.get_site(conn, site_id)
    if site is None:
        raise HTTPException(404, f"Site {site_id} does not exist")
    return site


async def _view(hub: Any, site_id: str) -> dict[str, Any]:
    site = await _site_or_404(hub, site_id)
    async with hub.services.engine.connect() as conn:
        stations = await repo.site_station_ids(conn, site_id)
        allocation = await repo.allocations(conn, site_id)
    out = present.row(site) or {}
    out["stations"] = stations
    out["allocation"] = [
        {
            "transactionId": a["transaction_id"],
            "stationId": a["station_id"],
            "connectorId": a["connector_id"],
            "limit": a["limit"],
            "refused": bool(a["refused"]),
            "updatedAt": format_ts(a["updated_at"]),
        }
        for a in allocation
    ]
    out["allocated"] = round(sum(a["limit"] for a in allocation), 1)
    return out


async def _answer(hub: Any, site_id: str, sent: list[dict[str, Any]]) -> Any:
    """The site after a change (the change itself is saved). While a station refuses the limit
    of one of its transactions — refused now or at the transaction's start — the site is not
    fully under control: that is a failure the operator must see, 502 with the same body plus
    ``refused`` and ``detail``; the refusing transaction is counted at its maximum meanwhile
    (docs/smart-charging.md)."""
    body = {**await _view(hub, site_id), "sent": sent}
    refused = {e["transactionId"]: e.get("refused") for e in sent if e.get("refused")}
    for a in body["allocation"]:
        if a["refused"]:
            refused.setdefault(a["transactionId"], "refused earlier")
    if not refused:
        return body
    body["refused"] = [{"transactionId": tx, "answer": why} for tx, why in refused.items()]
    body["detail"] = (
        "Saved, but station(s) refuse the limit of transaction(s) "
        + ", ".join(f"{tx} ({why})" for tx, why in refused.items())
        + ": each is counted at the site's maxPerConnector (or the whole limit)"
    )
    return JSONResponse(status_code=502, content=body)


@router.get("/sites", summary="All sites")
async def list_sites(hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        ids = [s["id"] for s in await repo.list_sites(conn)]
    return [await _view(hub, i) for i in ids]


@router.post("/sites", status_code=201, summary="Create a site")
async def create_site(body: SiteCreate, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    async with hub.services.engine.begin() as conn:
        if await repo.get_site(conn, body.id) is not None:
            raise HTTPException(409, f"Site {body.id} already exists")
        await repo.create_site(
            conn,
            body.id,
            description=body.description,
            limit=body.limit,
            unit=body.unit,
            min_per_connector=body.minPerConnector,
            stack_level=body.stackLevel,
            max_per_connector=body.maxPerConnector,
        )
    return await _view(hub, body.id)


@router.get("/sites/{site_id}", summary="A site, its stations and current allocation")
async def get_site(site_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    return await _view(hub, site_id)


@router.patch(
    "/sites/{site_id}",
    summary="Change a site (a new limit is applied at once: decreases first, then increases)",
)
async def update_site(site_id: str, body: SiteUpdate, hub: Any = Depends(get_hub)) -> Any:
    await _site_or_404(hub, site_id)
    values = {
        k: v
        for k, v in (
            ("description", body.description),
            ("limit", body.limit),
            ("min_per_connector", body.minPerConnector),
            ("max_per_connector", body.maxPerConnector),
        )
        if v is not None
    }
    if values:
        async with hub.services.engine.begin() as conn:
            await repo.update_site(conn, site_id, **values)
    result = await site_logic.rebalance(hub.services, site_id)
    return await _answer(hub, site_id, result["sent"])


@router.delete("/sites/{site_id}", status_code=204, summary="Delete a site (profiles stay)")
async def delete_site(site_id: str, hub: Any = Depends(get_hub)) -> None:
    await _site_or_404(hub, site_id)
    async with hub.services.engine.begin() as conn:
        await repo.delete_site(conn, site_id)
    site_logic.forget_site_members(hub.services)


@router.put("/sites/{site_id}/stations/{station_id}", summary="Put a station into the site")
async def assign_station(site_id: str, station_id: str, hub: Any = Depends(get_hub)) -> Any:
    await _site_or_404(hub, site_id)
    async with hub.services.engine.begin() as conn:
        if await stations_repo.get_station(conn, station_id) is None:
            raise HTTPException(404, f"Station {station_id} is not registered")
        previous = await repo.site_of_station(conn, station_id)
        await repo.unassign_station(conn, station_id)
        await repo.assign_station(conn, site_id, station_id)
    site_logic.forget_site_members(hub.services)
    if previous is not None and previous != site_id:
        await site_logic.rebalance(hub.services, previous)
    result = await site_logic.rebalance(hub.services, site_id)
    return await _answer(hub, site_id, result["sent"])


@router.delete(
    "/sites/{site_id}/stations/{station_id}",
    summary="Take a station out of the site (its TxProfiles stay until the transactions end)",
)
async def unassign_station(site_id: str, station_id: str, hub: Any = Depends(get_hub)) -> Any:
    await _site_or_404(hub, site_id)
    async with hub.services.engine.begin() as conn:
        if await repo.site_of_station(conn, station_id) != site_id:
            raise HTTPException(404, f"Station {station_id} is not in site {site_id}")
        await repo.unassign_station(conn, station_id)
    site_logic.forget_site_members(hub.services)
    result = await site_logic.rebalance(hub.services, site_id)
    return await _answer(hub, site_id, result["sent"])


@router.get("/sites/{site_id}/allocation", summary="What each running transaction may draw")
async def allocation(site_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    view = await _view(hub, site_id)
    return {
        "site": site_id,
        "limit": view["limit"],
        "unit": view["unit"],
        "allocated": view["allocated"],
        "allocation": view["allocation"],
    }
