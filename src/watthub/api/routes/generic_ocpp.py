"""Send any OCPP 1.6 command to a station with a free-form payload — what operators and test tools
use for values the typed endpoints would not produce. Same checks and hooks as the typed ones."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query

from watthub.api.deps import get_hub, require_token, run_command

router = APIRouter(tags=["commands"], dependencies=[Depends(require_token)])


@router.post(
    "/stations/{station_id}/ocpp/{action}",
    summary="Send any CSMS → station OCPP action and return the station's answer",
    description="The body is the OCPP payload. It is validated against the OCPP 1.6 schema "
    "(422 if invalid). 404 unknown station, 409 not connected or not allowed now, 504 when the "
    "station does not answer in time, 502 when it answers with a CALLERROR.",
)
async def send_any(
    station_id: str,
    action: str,
    payload: dict[str, Any] = Body(default_factory=dict),
    timeout: float | None = Query(None, gt=0, le=600),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    return await run_command(hub, station_id, action, payload, timeout)
