"""A raw OCPP-J station over a plain websocket (no ocpp library), for frames a library won't send."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from watthub.timeutil import now_ts


class RawStation:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RawStation:
        kwargs.setdefault("subprotocols", ["ocpp1.6"])
        return cls(await websockets.connect(url, open_timeout=5, **kwargs))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def send(self, frame: list[Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> list[Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))  # type: ignore[no-any-return]

    async def expect_silence(self, timeout: float = 0.5) -> None:
        try:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            return
        raise AssertionError(f"expected no frame, got {frame!r}")

    async def call(self, message_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        await self.send([2, message_id, action, payload])
        return await self.recv()

    async def alive(self, message_id: str = "alive-check") -> None:
        """The connection still works: a Heartbeat is answered."""
        answer = await self.call(message_id, "Heartbeat", {})
        assert answer[0] == 3 and answer[1] == message_id, answer

    async def boot(self) -> list[Any]:
        return await self.call(
            "boot-1", "BootNotification", {"chargePointVendor": "Raw", "chargePointModel": "WS"}
        )

    async def close(self) -> None:
        await self.ws.close()


def status_payload(status: str = "Available", connector: int = 1) -> dict[str, Any]:
    return {
        "connectorId": connector,
        "errorCode": "NoError",
        "status": status,
        "timestamp": now_ts(),
    }
