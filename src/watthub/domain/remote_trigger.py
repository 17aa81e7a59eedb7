"""Remote Trigger profile (OCPP 1.6 §5.17; errata §3.40): TriggerMessage bookkeeping.

The triggered messages themselves arrive as ordinary station messages and go to their usual
handlers (a MeterValues outside a transaction, an Idle DiagnosticsStatusNotification, ...)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain.commands import CommandNotAllowed
from watthub.domain.context import Services
from watthub.domain.registry import after_command, before_command
from watthub.storage import stations_repo
from watthub.storage.tables_trigger import trigger_requests
from watthub.timeutil import utcnow

TRIGGERABLE = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)


@before_command("TriggerMessage")
async def refuse_boot_after_accepted(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    if payload.get("requestedMessage") == "BootNotification":
        registration = services.registration.get(station_id)
        if registration is None:
            async with services.engine.connect() as conn:
                station = await stations_repo.get_station(conn, station_id)
            registration = (station or {}).get("registration_status")
        if registration == "Accepted":
            raise CommandNotAllowed(
                "The station's boot is already Accepted; a central system must not trigger a "
                "BootNotification then (OCPP 1.6 errata §3.40)"
            )
    return payload


@after_command("TriggerMessage")
async def record_trigger_answer(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    async def op(conn: AsyncConnection) -> None:
        await conn.execute(
            trigger_requests.insert().values(
                station_id=station_id,
                requested_message=sent["requestedMessage"],
                connector_id=sent.get("connectorId"),
                status=answer.get("status", "?"),
                created_at=utcnow(),
            )
        )

    await services.writer.run(op)
