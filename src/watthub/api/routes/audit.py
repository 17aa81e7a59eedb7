"""The audit trail of operator commands: all stations, or one."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query

from watthub.api import present
from watthub.api.deps import get_hub
from watthub.storage import audit_repo
from watthub.timeutil import parse_ts

router = APIRouter(tags=["audit"])


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    def parsed(text: str) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text  # an error message, or a clipped summary

    return {
        "id": row["id"],
        "at": (present.row({"t": row["created_at"]}) or {})["t"],
        "actor": row["actor"],
        "actorKind": row["actor_kind"],
        "stationId": row["station_id"],
        "action": row["action"],
        "payload": parsed(row["payload"]),
        "result": row["result"],
        "answer": parsed(row["answer"]),
    }


async def _list(
    hub: Any, station_id: str | None, user: str | None, limit: int, before: str | None
) -> list[dict[str, Any]]:
    before_id, before_time = None, None
    if before:
        if before.isdigit():
            before_id = int(before)
        else:
            try:
                before_time = parse_ts(before)
            except ValueError as exc:
                raise HTTPException(
                    422, "before: an entry id or an ISO 8601 time (2026-01-01T00:00:00Z)"
                ) from exc
    async with hub.services.engine.connect() as conn:
        rows = await audit_repo.list_entries(
            conn,
            station_id=station_id,
            actor=user,
            before_id=before_id,
            before_time=before_time,
            limit=limit,
        )
    return [_entry(r) for r in rows]


_LIMIT = Query(100, ge=1, le=1000, description="At most this many entries, newest first")
_BEFORE = Query(
    None, description="Entries older than this entry id (the next page) or ISO 8601 time"
)


@router.get("/audit", summary="Commands operators sent, newest first")
async def audit_trail(
    station_id: str | None = Query(None, alias="stationId"),
    user: str | None = Query(None, description="A user name or API token name"),
    limit: int = _LIMIT,
    before: str | None = _BEFORE,
    hub: Any = Depends(get_hub),
) -> list[dict[str, Any]]:
    return await _list(hub, station_id, user, limit, before)


@router.get("/stations/{station_id}/audit", summary="Commands operators sent to one station")
async def station_audit_trail(
    station_id: str,
    user: str | None = Query(None, description="A user name or API token name"),
    limit: int = _LIMIT,
    before: str | None = _BEFORE,
    hub: Any = Depends(get_hub),
) -> list[dict[str, Any]]:
    return await _list(hub, station_id, user, limit, before)
