"""What the operator console needs beyond the resource endpoints: the network overview, the live
event stream (Server-Sent Events) and the OCPP 1.6 request schemas its command forms are built from.
Every endpoint is plain API (camelCase, bearer token or console session)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from watthub.api.authn import AuthError, authenticator
from watthub.api.deps import get_hub
from watthub.api.live_feed import LiveFeed
from watthub.storage import console_repo
from watthub.timeutil import format_ts, utcnow

router = APIRouter(tags=["console"])  # viewers read; roles come from api/app.py

# OCPP 1.6 (with the security whitepaper): what a central system may send to a station.
CSMS_TO_STATION = (
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "InstallCertificate",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SignedUpdateFirmware",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
)


@router.get("/overview", summary="Network counts, energy delivered today, recent events")
async def overview(hub: Any = Depends(get_hub)) -> dict[str, Any]:
    now = utcnow()
    async with hub.services.engine.connect() as conn:
        counts = await console_repo.counts(conn)
        energy = await console_repo.energy_since(conn, console_repo.start_of_day(now))
        recent = await console_repo.recent_events(conn)
    return {
        "stations": {k: v for k, v in counts.items() if k != "activeTransactions"},
        "activeTransactions": counts["activeTransactions"],
        "energyTodayWh": round(energy, 1),
        "dayStart": format_ts(console_repo.start_of_day(now)),
        "recentEvents": [{**e, "at": format_ts(e["at"])} for e in recent],
    }


def feed_of(request: Request) -> LiveFeed:
    feed: LiveFeed | None = getattr(request.app.state, "live_feed", None)
    if feed is None:
        hub = request.app.state.hub

        def stopping() -> bool:
            server = getattr(hub, "_api_server", None)
            return bool(server is not None and server.should_exit)

        feed = LiveFeed(hub.services.events, stopping=stopping)
        request.app.state.live_feed = feed
    return feed


@router.get(
    "/events/stream",
    summary="Live events (Server-Sent Events): batches of {event, data} as JSON lists",
    description="Each SSE message is a JSON list of `{event, data}` (event names and data as on "
    "the event bus, e.g. `status_changed`, `meter_values`, `transaction_started`). An SSE "
    "event `resync` means the client was too slow and events were dropped: reload from the API.",
    response_class=StreamingResponse,
)
async def event_stream(
    request: Request,
    station_id: str | None = Query(None, alias="stationId", description="Only this station"),
    events: str | None = Query(None, description="Comma-separated event names (default: all)"),
) -> StreamingResponse:
    names = frozenset(n.strip() for n in events.split(",") if n.strip()) if events else None
    authorization, cookie = request.headers.get("authorization"), request.headers.get("cookie")

    async def still_allowed() -> bool:
        # A stream outlives its request: a logout, an expired session or a revoked token ends
        # it at the next keep-alive instead of leaving it open for days.
        try:
            return await authenticator(request.app).authenticate(authorization, cookie) is not None
        except AuthError:
            return False

    return StreamingResponse(
        feed_of(request).stream(station_id, names, still_allowed),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@cache
def _schema(action: str) -> dict[str, Any]:
    text = resources.files("ocpp.v16.schemas").joinpath(f"{action}.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@router.get("/ocpp/schemas", summary="The OCPP 1.6 actions a station can be sent")
async def command_list() -> list[str]:
    return list(CSMS_TO_STATION)


@router.get("/ocpp/schemas/{action}", summary="The official OCPP 1.6 JSON schema of a request")
async def command_schema(action: str) -> dict[str, Any]:
    if action not in CSMS_TO_STATION:
        raise HTTPException(404, f"{action} is not an OCPP 1.6 CSMS → station action")
    return _schema(action)
