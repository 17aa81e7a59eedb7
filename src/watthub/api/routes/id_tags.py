"""Id tags: the authorization identifiers stations present."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field

from watthub.api import present
from watthub.api.deps import get_hub, require_token
from watthub.api.present import ApiModel
from watthub.domain.invalidation import ID_TAGS
from watthub.storage import tags_repo
from watthub.timeutil import as_utc, parse_ts

router = APIRouter(tags=["id-tags"], dependencies=[Depends(require_token)])


class IdTagPut(ApiModel):
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiryDate: datetime | None = Field(None, description="After this instant the tag is Expired")
    parentIdTag: str | None = Field(None, max_length=20, description="Group (parent) id tag")
    allowConcurrentTx: bool = Field(False, description="May start a second transaction at once")
    note: str = ""


@router.get("/id-tags", summary="All id tags")
async def list_tags(hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return present.rows(await tags_repo.list_tags(conn))


@router.get("/id-tags/{id_tag}", summary="One id tag (case-insensitive)")
async def get_tag(id_tag: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        tag = await tags_repo.get_tag(conn, id_tag)
    if tag is None:
        raise HTTPException(404, f"Id tag {id_tag} is unknown")
    return present.row(tag) or {}


@router.put("/id-tags/{id_tag}", summary="Create or update an id tag")
async def put_tag(id_tag: str, body: IdTagPut, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    if not 1 <= len(id_tag) <= 20:
        raise HTTPException(422, "An idTag has 1 to 20 characters (CiString20)")
    if body.expiryDate is not None and body.expiryDate.tzinfo is None:
        raise HTTPException(422, "expiryDate needs a time zone (for example a trailing Z)")
    async with hub.services.engine.begin() as conn:
        tag = await tags_repo.put_tag(
            conn,
            id_tag,
            status=body.status,
            expiry_date=as_utc(body.expiryDate),
            parent_id_tag=body.parentIdTag,
            allow_concurrent_tx=body.allowConcurrentTx,
            note=body.note,
        )
    hub.services.invalidation.publish(
        ID_TAGS, id_tag
    )  # after the commit: the next lookup reads the new state
    return present.row(tag) or {}


@router.delete("/id-tags/{id_tag}", status_code=204, summary="Delete an id tag")
async def delete_tag(id_tag: str, hub: Any = Depends(get_hub)) -> None:
    async with hub.services.engine.begin() as conn:
        deleted = await tags_repo.delete_tag(conn, id_tag)
    hub.services.invalidation.publish(ID_TAGS, id_tag)
    if not deleted:
        raise HTTPException(404, f"Id tag {id_tag} is unknown")


@router.post(
    "/id-tags/import",
    summary="Import id tags from CSV (header idTag,status,expiryDate,parentIdTag): all or none",
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_tags(request: Request, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    entries = []
    for number, line in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        id_tag = (line.get("idTag") or "").strip()
        status = (line.get("status") or "").strip() or "Accepted"
        if not 1 <= len(id_tag) <= 20:
            raise HTTPException(422, f"line {number}: idTag must have 1 to 20 characters")
        if status not in tags_repo.TAG_STATUSES:
            raise HTTPException(422, f"line {number}: unknown status {status}")
        expiry = (line.get("expiryDate") or "").strip()
        try:
            expiry_date = parse_ts(expiry) if expiry else None
        except ValueError as exc:
            raise HTTPException(422, f"line {number}: bad expiryDate {expiry!r}") from exc
        parent = (line.get("parentIdTag") or "").strip() or None
        if parent is not None and len(parent) > 20:
            raise HTTPException(422, f"line {number}: parentIdTag has more than 20 characters")
        entries.append((id_tag, status, expiry_date, parent))
    if not entries:
        raise HTTPException(422, "No id tags: the CSV needs the header idTag,status,expiryDate,...")
    async with hub.services.engine.begin() as conn:  # one transaction: a bad file changes nothing
        for id_tag, status, expiry_date, parent in entries:
            await tags_repo.put_tag(conn, id_tag, status, expiry_date, parent)
    hub.services.invalidation.publish(ID_TAGS)
    return {"imported": len(entries)}
