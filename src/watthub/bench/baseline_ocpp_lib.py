"""Baseline (a) "ocpp-lib": a central system written the way the ``ocpp`` package's examples do.

``ocpp.v16.ChargePoint`` subclass with ``@on`` handlers, default library settings (jsonschema
validation of every request and response, run in the default thread pool), an in-memory store for
id tags and transactions, ``websockets.serve(..., subprotocols=["ocpp1.6"])`` with the library's
and websockets' defaults (permessage-deflate offered, 20 s pings, backlog 100).

The only additions to the example shape are a ``GET /health`` answer on the same port (for the
storm probe) and the choice of event loop (``--loop``), so every target runs on the same loop.

Run: ``python -m watthub.bench.baseline_ocpp_lib --port 9000``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as CP
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

from ._serverutil import health_check, parse_args, run
from .frames import id_tag_for

logging.basicConfig(level=logging.WARNING)


@dataclass
class Store:
    """In-memory id tags and transactions."""

    id_tags: dict[str, AuthorizationStatus] = field(default_factory=dict)
    transactions: dict[int, dict[str, Any]] = field(default_factory=dict)
    meter_values: int = 0
    tx_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def tag_status(self, id_tag: str) -> AuthorizationStatus:
        return self.id_tags.get(id_tag, AuthorizationStatus.invalid)


STORE = Store()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class ChargePoint(CP):
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kwargs):
        return call_result.BootNotification(
            current_time=now_iso(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, **kwargs):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str):
        return call_result.Authorize(id_tag_info={"status": STORE.tag_status(id_tag)})

    @on(Action.start_transaction)
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs
    ):
        tx_id = next(STORE.tx_ids)
        STORE.transactions[tx_id] = {
            "charge_point": self.id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "meter_start": meter_start,
            "start": timestamp,
        }
        return call_result.StartTransaction(
            transaction_id=tx_id, id_tag_info={"status": STORE.tag_status(id_tag)}
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs):
        tx = STORE.transactions.pop(transaction_id, None)
        id_tag = kwargs.get("id_tag") or (tx or {}).get("id_tag")
        if id_tag is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info={"status": STORE.tag_status(id_tag)})

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, **kwargs):
        STORE.meter_values += sum(len(mv.get("sampled_value", [])) for mv in meter_value)
        return call_result.MeterValues()


async def on_connect(websocket):
    """Same shape as the library's ``examples/v16/central_system.py``."""
    try:
        requested_protocols = websocket.request.headers["Sec-WebSocket-Protocol"]
    except KeyError:
        return await websocket.close()
    if not websocket.subprotocol:
        logging.warning("protocols mismatched: %s", requested_protocols)
        return await websocket.close()

    charge_point_id = websocket.request.path.strip("/")
    cp = ChargePoint(charge_point_id, websocket)
    try:
        await cp.start()
    except websockets.exceptions.ConnectionClosed:
        pass


async def main_async(stop: asyncio.Event, host: str, port: int, id_tags: int) -> None:
    for i in range(id_tags):
        STORE.id_tags[id_tag_for(i)] = AuthorizationStatus.accepted
    async with websockets.serve(
        on_connect, host, port, subprotocols=["ocpp1.6"], process_request=health_check
    ):
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or "", argv)
    if args.sync_validation:
        # The library's own switch (PR #678): jsonschema on the loop instead of two thread hops
        # per CALL. The fairer variant of the baseline.
        import ocpp.messages

        ocpp.messages.ASYNC_VALIDATION = False
    run(lambda stop: main_async(stop, args.host, args.port, args.id_tags), args.loop)


if __name__ == "__main__":
    main()
