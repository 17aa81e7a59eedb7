"""A small simulated charge point for demos and manual testing (``watthub simulate``).

It is built on the ``ocpp`` package's ChargePoint — an implementation independent of WattHub's
server side. It boots, reports its connectors, heartbeats, and charges when remotely started."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from watthub.timeutil import now_ts

log = logging.getLogger("watthub.simulator")


class SimulatedStation(ChargePoint):
    def __init__(self, station_id: str, connection: Any, connectors: int, meter_interval: float):
        super().__init__(station_id, connection)
        self.connectors = connectors
        self.meter_interval = meter_interval
        self.transactions: dict[int, int] = {}  # connector -> transactionId
        self.meter_wh: dict[int, int] = dict.fromkeys(range(1, connectors + 1), 0)
        self.heartbeat_interval = 300
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def boot(self) -> str:
        answer = await self.call(
            call.BootNotification(
                charge_point_vendor="WattHub",
                charge_point_model="Simulator",
                firmware_version="1.0",
            )
        )
        log.info("boot: %s (heartbeat %s s)", answer.status, answer.interval)
        if answer.status == "Accepted":
            self.heartbeat_interval = answer.interval or 300
            for connector in range(0, self.connectors + 1):
                await self.status(connector, "Available")
        return str(answer.status)

    async def status(self, connector: int, status: str, error: str = "NoError") -> None:
        await self.call(
            call.StatusNotification(
                connector_id=connector, error_code=error, status=status, timestamp=now_ts()
            )
        )

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self.call(call.Heartbeat())

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        connector = connector_id or 1
        if connector in self.transactions or connector > self.connectors:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.spawn(self.charge(connector, id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        for connector, tx in self.transactions.items():
            if tx == transaction_id:
                self.spawn(self.stop(connector, "Remote"))
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> Any:
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int, **_: Any) -> Any:
        return call_result.UnlockConnector(status="Unlocked")

    @on("ClearCache")
    async def on_clear_cache(self, **_: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on("ChangeAvailability")
    async def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        return call_result.ChangeAvailability(status="Accepted")

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return call_result.ChangeConfiguration(status="Accepted")

    @on("GetConfiguration")
    async def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        config = [
            {"key": "HeartbeatInterval", "readonly": False, "value": str(self.heartbeat_interval)},
            {
                "key": "MeterValueSampleInterval",
                "readonly": False,
                "value": str(self.meter_interval),
            },
            {"key": "NumberOfConnectors", "readonly": True, "value": str(self.connectors)},
            {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core"},
        ]
        if key:
            known = [c for c in config if c["key"] in key]
            unknown = [k for k in key if k not in {c["key"] for c in config}]
            return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown)
        return call_result.GetConfiguration(configuration_key=config)

    async def charge(self, connector: int, id_tag: str) -> None:
        auth = await self.call(call.Authorize(id_tag=id_tag))
        if auth.id_tag_info["status"] != "Accepted":
            log.info("id tag %s not accepted: %s", id_tag, auth.id_tag_info["status"])
            return
        await self.status(connector, "Preparing")
        start = await self.call(
            call.StartTransaction(
                connector_id=connector,
                id_tag=id_tag,
                meter_start=self.meter_wh[connector],
                timestamp=now_ts(),
            )
        )
        self.transactions[connector] = start.transaction_id
        log.info("transaction %s started on connector %s", start.transaction_id, connector)
        await self.status(connector, "Charging")
        while self.transactions.get(connector) == start.transaction_id:
            await asyncio.sleep(self.meter_interval)
            if self.transactions.get(connector) != start.transaction_id:
                break
            power = random.uniform(6500, 7400)
            self.meter_wh[connector] += int(power * self.meter_interval / 3600)
            await self.call(
                call.MeterValues(
                    connector_id=connector,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": now_ts(),
                            "sampledValue": [
                                {
                                    "value": str(self.meter_wh[connector]),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                },
                                {
                                    "value": f"{power:.0f}",
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                },
                            ],
                        }
                    ],
                )
            )

    async def stop(self, connector: int, reason: str) -> None:
        tx = self.transactions.pop(connector, None)
        if tx is None:
            return
        await self.call(
            call.StopTransaction(
                meter_stop=self.meter_wh[connector],
                timestamp=now_ts(),
                transaction_id=tx,
                reason=reason,
            )
        )
        log.info("transaction %s stopped (%s)", tx, reason)
        await self.status(connector, "Finishing")
        await self.status(connector, "Available")


async def run_simulator(
    url: str,
    station_id: str,
    password: str | None,
    connectors: int,
    meter_interval: float,
    duration: float | None,
) -> None:
    headers = {}
    if password:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    async with websockets.connect(
        url,
        subprotocols=["ocpp1.6"],
        additional_headers=headers,  # type: ignore[list-item]
    ) as ws:
        cp = SimulatedStation(station_id, ws, connectors, meter_interval)
        reader = asyncio.create_task(cp.start())
        try:
            await cp.boot()
            beat = asyncio.create_task(cp.heartbeats())
            try:
                if duration is None:
                    await reader
                else:
                    await asyncio.wait_for(asyncio.shield(reader), duration)
            except TimeoutError:
                pass
            finally:
                beat.cancel()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
