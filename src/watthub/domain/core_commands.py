"""Bookkeeping around Core commands: what the station reports back is stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain.commands import InvalidCommand
from watthub.domain.context import Services
from watthub.domain.invalidation import STATION_CONFIGURATION
from watthub.domain.registry import after_command, before_command
from watthub.ocppj import config_keys
from watthub.storage import stations_repo


@after_command("GetConfiguration")
async def store_configuration(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    async def op(conn: AsyncConnection) -> None:
        await stations_repo.store_configuration(
            conn,
            station_id,
            answer.get("configurationKey") or [],
            answer.get("unknownKey") or [],
            replace_all=not sent.get("key"),
        )

    await services.writer.run(op)
    services.invalidation.publish(STATION_CONFIGURATION, station_id)


@after_command("ChangeConfiguration")
async def remember_changed_value(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    if answer.get("status") not in ("Accepted", "RebootRequired"):
        return
    if config_keys.same_key(sent.get("key"), config_keys.AUTHORIZATION_KEY):
        return  # a secret: never stored in clear

    async def op(conn: AsyncConnection) -> None:
        await stations_repo.set_configuration_value(conn, station_id, sent["key"], sent["value"])

    await services.writer.run(op)
    services.invalidation.publish(STATION_CONFIGURATION, station_id)


@before_command("UnlockConnector")
async def check_unlock(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    # OCPP 1.6 §5.17: connectorId > 0 (the schema alone allows 0, which means the whole station).
    connector = payload.get("connectorId")
    if type(connector) is int and connector <= 0:
        raise InvalidCommand("UnlockConnector needs a connectorId > 0 (OCPP 1.6 §5.17)")
    return payload
