"""Sending a command (a CSMS → station CALL). The typed API endpoints, the generic
``/ocpp/{Action}`` endpoint, the CLI and feature modules all come through :func:`send_command`, so
the same checks and bookkeeping apply whichever way an operator asks."""

from __future__ import annotations

import logging
from typing import Any

from watthub.domain import audit
from watthub.domain.actor import current_actor
from watthub.domain.context import Services
from watthub.domain.registry import COMMAND_HOOKS
from watthub.gateway import StationNotConnected
from watthub.ocppj import schemas
from watthub.storage import stations_repo

log = logging.getLogger("watthub.commands")

# Station → CSMS messages: a CSMS never sends these.
STATION_ONLY_ACTIONS = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
    }
)

# OCPP 1.6 §4.2 (BootNotification Pending): no remote start/stop until the station is accepted.
NOT_WHILE_PENDING = frozenset({"RemoteStartTransaction", "RemoteStopTransaction"})


class CommandError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownStation(CommandError):
    status_code = 404


class CommandNotAllowed(CommandError):
    status_code = 409


class InvalidCommand(CommandError):
    status_code = 422


async def send_command(
    services: Services,
    station_id: str,
    action: str,
    payload: dict[str, Any],
    *,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Validate, apply the feature hooks, send, wait for the answer and record it.

    Raises :class:`CommandError` subclasses for what the operator must fix, and the gateway
    errors (not connected, timeout, CALLERROR) for what happened on the way. On behalf of an
    operator (``current_actor`` set by the API), the outcome goes to the audit trail."""
    actor = current_actor.get()
    if actor is None:
        return await _send(services, station_id, action, payload, timeout, None)
    sent = [payload]
    try:
        answer = await _send(services, station_id, action, payload, timeout, sent)
    except CommandError as exc:
        await audit.record(services, actor, station_id, action, sent[-1], "refused", exc.message)
        raise
    except Exception as exc:
        what = f"{type(exc).__name__}: {exc}"
        await audit.record(services, actor, station_id, action, sent[-1], "failed", what)
        raise
    await audit.record(services, actor, station_id, action, sent[-1], "ok", answer)
    return answer


async def _send(
    services: Services,
    station_id: str,
    action: str,
    payload: dict[str, Any],
    timeout: float | None,
    sent: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    if action not in schemas.known_actions():
        raise InvalidCommand(f"{action} is not an OCPP 1.6 action")
    if action in STATION_ONLY_ACTIONS:
        raise InvalidCommand(f"{action} is sent by a station, not by a central system")
    async with services.engine.connect() as conn:
        station = await stations_repo.get_station(conn, station_id)
    if station is None:
        raise UnknownStation(f"Station {station_id} is not registered")
    if not await services.gateway.connected(station_id):
        raise StationNotConnected(f"Station {station_id} is not connected")
    registration = services.registration.get(station_id, station.get("registration_status"))
    if action in NOT_WHILE_PENDING and registration == "Pending":
        raise CommandNotAllowed(
            f"{action} is not allowed while the station's boot is Pending (OCPP 1.6 §4.2); "
            "accept the station first"
        )
    if registration == "Rejected":
        raise CommandNotAllowed(
            "The station's BootNotification was Rejected; a central system should not send "
            "it requests (OCPP 1.6 §4.2)"
        )
    hooks = COMMAND_HOOKS.get(action)
    if hooks is not None:
        for before in hooks.before:
            payload = await before(services, station_id, payload)
    if sent is not None:
        sent.append(payload)  # what the hooks made of it is what the audit trail shows
    problem = schemas.problems(action, payload)
    if problem is not None:
        raise InvalidCommand(f"Invalid {action} payload: {problem}")
    answer = await services.gateway.call(station_id, action, payload, timeout)
    log.info("%s → %s answered %s", action, station_id, answer.get("status", "ok"))
    if hooks is not None:
        for after in hooks.after:
            await after(services, station_id, payload, answer)
    return answer
