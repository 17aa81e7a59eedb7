"""A charger that behaves like a real one when its CSMS goes away: transaction messages are kept
until answered and redelivered after reconnecting, with the same payload (its original timestamp
included) — alternately under the same message id and a new one, as chargers differ in that.

It charges in a loop: StartTransaction, a few MeterValues, StopTransaction; each message is made
only once the previous one is answered (the next needs the transactionId). Raw frames over a plain
WebSocket: the test needs control of message ids, which an OCPP library does not give."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from watthub.timeutil import now_ts

ENERGY = "Energy.Active.Import.Register"


@dataclass
class Message:
    action: str
    payload: dict[str, Any]
    message_id: str
    sent: int = 0  # how many times it went out
    in_flight: bool = False  # sent on the current connection, not answered yet
    redelivered_at: float | None = None  # wall clock of the first redelivery


@dataclass
class Charger:
    station_id: str
    url: str
    id_tag: str
    samples_per_session: int = 3
    # Chargers differ: some redeliver under the message id of the lost attempt, some a new one.
    new_id_on_redelivery: bool = False
    acked: list[tuple[Message, dict[str, Any]]] = field(default_factory=list)
    redelivered_same_id: int = 0
    redelivered_new_id: int = 0
    finishing: bool = False
    _queue: deque[Message] = field(default_factory=deque)
    _seq: int = 0
    _meter: int = 0
    _tx: int | None = None
    _samples_left: int = 0

    def _message(self, action: str, payload: dict[str, Any]) -> Message:
        self._seq += 1
        return Message(action, payload, f"{self.station_id}-{self._seq}")

    def _plan(self) -> None:
        """Queue the next message of the charging loop (nothing when finishing between sessions)."""
        if self._tx is None:
            if self.finishing:
                return
            payload = {
                "connectorId": 1,
                "idTag": self.id_tag,
                "meterStart": self._meter,
                "timestamp": now_ts(),
            }
            self._queue.append(self._message("StartTransaction", payload))
        elif self._samples_left > 0:
            self._meter += 125
            samples = [
                {"value": str(self._meter), "measurand": ENERGY, "unit": "Wh"},
                {"value": "16.0", "measurand": "Current.Import", "unit": "A"},
            ]
            payload = {
                "connectorId": 1,
                "transactionId": self._tx,
                "meterValue": [{"timestamp": now_ts(), "sampledValue": samples}],
            }
            self._queue.append(self._message("MeterValues", payload))
        else:
            self._meter += 50
            payload = {
                "transactionId": self._tx,
                "meterStop": self._meter,
                "timestamp": now_ts(),
                "idTag": self.id_tag,
                "reason": "EVDisconnected",
            }
            self._queue.append(self._message("StopTransaction", payload))

    def _answered(self, message: Message, answer: dict[str, Any]) -> None:
        self._queue.popleft()
        self.acked.append((message, answer))
        if message.action == "StartTransaction":
            self._tx = int(answer["transactionId"])
            self._samples_left = self.samples_per_session
        elif message.action == "MeterValues":
            self._samples_left -= 1
        elif message.action == "StopTransaction":
            self._tx = None

    def _lost(self) -> None:
        """The connection went with the head message unanswered: it goes again after reconnect."""
        if not self._queue or not self._queue[0].in_flight:
            return  # nothing was waiting for an answer (or a reconnect attempt failed again)
        head = self._queue[0]
        head.in_flight = False
        if head.redelivered_at is None:
            head.redelivered_at = time.time()
        if self.new_id_on_redelivery:
            self._seq += 1
            head.message_id = f"{self.station_id}-{self._seq}"
            self.redelivered_new_id += 1
        else:
            self.redelivered_same_id += 1

    async def run(self) -> None:
        """Charge until ``finishing`` is set and the running session is stopped and answered."""
        booted = False
        while True:
            try:
                async with websockets.connect(
                    self.url,
                    subprotocols=["ocpp1.6"],
                    open_timeout=2,  # type: ignore[list-item]
                ) as ws:
                    if not booted:
                        boot = {"chargePointVendor": "Integrity", "chargePointModel": "Kill9"}
                        await ws.send(json.dumps([2, "boot", "BootNotification", boot]))
                        await self._answer(ws, "boot")
                        booted = True
                    while True:
                        if not self._queue:
                            self._plan()
                            if not self._queue:
                                return
                        head = self._queue[0]
                        head.sent += 1
                        head.in_flight = True
                        frame = [2, head.message_id, head.action, head.payload]
                        await ws.send(json.dumps(frame))
                        self._answered(head, await self._answer(ws, head.message_id))
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                self._lost()
                await asyncio.sleep(0.05)

    @staticmethod
    async def _answer(ws: Any, message_id: str) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame[0] == 2:  # a CALL of the CSMS: not expected here, refused politely
                await ws.send(json.dumps([4, frame[1], "NotSupported", "", {}]))
                continue
            assert frame[1] == message_id, (frame, message_id)
            # A CALLERROR on a transaction message would make a charger retry it forever.
            assert frame[0] == 3, frame
            return frame[2]  # type: ignore[no-any-return]
