"""TriggerMessage and the answers stations gave."""

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field
from sqlalchemy import select

from watthub.api import present
from watthub.api.deps import get_hub, require_token
from watthub.api.present import ApiModel
from watthub.api.typed import command_endpoint
from watthub.storage.tables_trigger import trigger_requests

router = APIRouter(tags=["remote trigger"], dependencies=[Depends(require_token)])


class TriggerMessage(ApiModel):
    requestedMessage: Literal[
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    ]
    connectorId: int | None = Field(None, gt=0, description="Omit for the station / all")


command_endpoint(router, "trigger-message", "TriggerMessage", TriggerMessage, "Ask for a message")


@router.get("/stations/{station_id}/trigger-requests", summary="TriggerMessages and answers")
async def history(station_id: str, hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        result = await conn.execute(
            select(trigger_requests)
            .where(trigger_requests.c.station_id == station_id)
            .order_by(trigger_requests.c.id.desc())
            .limit(200)
        )
        return present.rows([dict(r._mapping) for r in result])
