"""A test charge point built on the ``ocpp`` package's ChargePoint (independent of WattHub).

It answers every CSMS → station action with a configurable answer (``cp.answers[action]``: a
payload dict, or a callable taking the request payload), records what the CSMS sent
(``cp.received``), and sends with the library's typed ``call`` objects."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from typing import Any

import orjson
import websockets
from ocpp.v16 import ChargePoint, call

from watthub.timeutil import now_ts

DEFAULT_ANSWERS: dict[str, dict[str, Any]] = {
    "CancelReservation": {"status": "Accepted"},
    "CertificateSigned": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted"},
    "DeleteCertificate": {"status": "Accepted"},
    "ExtendedTriggerMessage": {"status": "Accepted"},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetConfiguration": {"configurationKey": [], "unknownKey": []},
    "GetDiagnostics": {"fileName": "diagnostics.zip"},
    "GetInstalledCertificateIds": {"status": "NotFound"},
    "GetLocalListVersion": {"listVersion": 0},
    "GetLog": {"status": "Accepted", "filename": "log.zip"},
    "InstallCertificate": {"status": "Accepted"},
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
    "ReserveNow": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "SignedUpdateFirmware": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
}

Answer = dict[str, Any] | Callable[[dict[str, Any]], Any]


class TestChargePoint(ChargePoint):
    __test__ = False  # not a pytest test class

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Answer] = dict(DEFAULT_ANSWERS)
        self._arrived = asyncio.Event()
        for action in DEFAULT_ANSWERS:
            self.route_map[action] = {"_on_action": self._responder(action)}

    def _responder(self, action: str) -> Callable[..., Any]:
        async def respond(**_snake_kwargs: Any) -> dict[str, Any]:
            payload = self._last_payload[action]
            answer = self.answers[action]
            if callable(answer):
                answer = answer(payload)
                if asyncio.iscoroutine(answer):
                    answer = await answer
            return dict(answer)

        return respond

    async def route_message(self, raw_msg: Any) -> Any:
        with contextlib.suppress(orjson.JSONDecodeError):
            msg = orjson.loads(raw_msg)
            if isinstance(msg, list) and msg and msg[0] == 2:
                self._last_payload = getattr(self, "_last_payload", {})
                self._last_payload[msg[2]] = msg[3]
                self.received.append((msg[2], msg[3]))
                self._arrived.set()
        return await super().route_message(raw_msg)

    async def wait_for(self, action: str, timeout: float = 5.0, count: int = 1) -> dict[str, Any]:
        """Wait until the CSMS has sent ``action`` ``count`` times; return the last payload."""
        async with asyncio.timeout(timeout):
            while True:
                matching = [p for a, p in self.received if a == action]
                if len(matching) >= count:
                    return matching[-1]
                self._arrived.clear()
                await self._arrived.wait()

    def sent(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.received if a == action]

    # -- convenience senders (station → CSMS) ------------------------------------------------

    async def boot(self, vendor: str = "OCTT", model: str = "Virtual", **extra: Any) -> Any:
        return await self.call(
            call.BootNotification(charge_point_vendor=vendor, charge_point_model=model, **extra)
        )

    async def status(
        self, connector_id: int, status: str, error_code: str = "NoError", **extra: Any
    ) -> Any:
        extra.setdefault("timestamp", now_ts())
        return await self.call(
            call.StatusNotification(
                connector_id=connector_id, error_code=error_code, status=status, **extra
            )
        )

    async def booted(self, connectors: int = 1) -> Any:
        """The OCTT's reusable state 'Booted' (table 199)."""
        answer = await self.boot()
        for connector in range(connectors + 1):
            await self.status(connector, "Available")
        return answer

    async def authorize(self, id_tag: str) -> Any:
        return await self.call(call.Authorize(id_tag=id_tag))

    async def start_transaction(
        self, id_tag: str, connector_id: int = 1, meter_start: int = 0, **extra: Any
    ) -> Any:
        extra.setdefault("timestamp", now_ts())
        return await self.call(
            call.StartTransaction(
                connector_id=connector_id, id_tag=id_tag, meter_start=meter_start, **extra
            )
        )

    async def stop_transaction(
        self, transaction_id: int, meter_stop: int = 1000, **extra: Any
    ) -> Any:
        extra.setdefault("timestamp", now_ts())
        return await self.call(
            call.StopTransaction(meter_stop=meter_stop, transaction_id=transaction_id, **extra)
        )

    async def charging(self, id_tag: str, connector_id: int = 1) -> int:
        """The OCTT's reusable state 'Charging' (table 201); returns the transactionId."""
        auth = await self.authorize(id_tag)
        assert auth.id_tag_info["status"] == "Accepted", auth
        await self.status(connector_id, "Preparing")
        start = await self.start_transaction(id_tag, connector_id)
        assert start.id_tag_info["status"] == "Accepted", start
        await self.status(connector_id, "Charging")
        return int(start.transaction_id)


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def open_station_socket(
    url: str,
    *,
    subprotocols: list[str] | None = None,
    headers: dict[str, str] | None = None,
    ssl: Any = None,
) -> Any:
    return await websockets.connect(
        url,
        subprotocols=subprotocols if subprotocols is not None else ["ocpp1.6"],  # type: ignore[arg-type]
        additional_headers=headers or {},
        ssl=ssl,
        open_timeout=5,
    )
