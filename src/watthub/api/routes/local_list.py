"""Local Authorization List: typed commands, per-station list view, scope and synchronisation."""

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import Field

from watthub.api.deps import get_hub, require_token
from watthub.api.feature_errors import guarded
from watthub.api.present import ApiModel
from watthub.api.typed import command_endpoint
from watthub.domain import local_list
from watthub.storage import stations_repo

router = APIRouter(tags=["local list"], dependencies=[Depends(require_token)])


class Empty(ApiModel):
    pass


class AuthorizationData(ApiModel):
    idTag: str = Field(max_length=20)
    idTagInfo: dict[str, Any] | None = Field(None, description="Omit to delete (Differential)")


class SendLocalList(ApiModel):
    updateType: Literal["Full", "Differential"]
    listVersion: int | None = Field(None, gt=0, description="Omit: WattHub picks the next one")
    localAuthorizationList: list[AuthorizationData] = []


command_endpoint(
    router, "get-local-list-version", "GetLocalListVersion", Empty, "Ask the list version"
)
command_endpoint(router, "send-local-list", "SendLocalList", SendLocalList, "Send raw entries")


class Scope(ApiModel):
    mode: Literal["all", "groups"]
    groups: list[str] | None = Field(None, description="parentIdTag groups (mode 'groups')")


class Sync(ApiModel):
    updateType: Literal["auto", "Full", "Differential"] = "auto"
    idTags: list[str] | None = Field(
        None, description="Only these tags (a Differential deletes the unknown ones)"
    )


async def _known(hub: Any, station_id: str) -> None:
    async with hub.services.engine.connect() as conn:
        if await stations_repo.get_station(conn, station_id) is None:
            raise HTTPException(404, f"Station {station_id} is not registered")


@router.get("/stations/{station_id}/local-list", summary="The station's list as WattHub knows it")
async def show(station_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    await _known(hub, station_id)
    async with hub.services.engine.connect() as conn:
        return await local_list.describe(conn, station_id)


@router.put("/stations/{station_id}/local-list/scope", summary="Which tags go in its list")
async def set_scope(station_id: str, body: Scope, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    await _known(hub, station_id)
    if body.mode == "groups" and not body.groups:
        raise HTTPException(422, "mode 'groups' needs a non-empty list of parentIdTag groups")
    if body.mode == "all" and body.groups:
        raise HTTPException(422, "mode 'all' takes no groups")
    async with hub.services.engine.begin() as conn:
        await local_list.set_scope(conn, station_id, body.groups if body.mode == "groups" else None)
        return await local_list.describe(conn, station_id)


@router.post("/stations/{station_id}/local-list/sync", summary="Send what changed (or all)")
async def sync(station_id: str, body: Sync, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    if body.idTags is not None and body.updateType == "auto":
        raise HTTPException(422, "With idTags, say updateType Full or Differential")
    if body.idTags is not None and not body.idTags:
        raise HTTPException(422, "idTags is empty")
    if body.idTags and any(not 1 <= len(t) <= 20 for t in body.idTags):
        raise HTTPException(422, "An idTag has 1 to 20 characters")
    return await guarded(
        local_list.synchronise(hub.services, station_id, body.updateType, body.idTags)
    )


@router.get("/local-lists/out-of-date", summary="Stations whose list differs from WattHub's")
async def stale(hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return await local_list.out_of_date(conn)
