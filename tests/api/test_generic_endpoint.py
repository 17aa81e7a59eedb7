"""POST /stations/{id}/ocpp/{Action}: the error mapping."""

from __future__ import annotations

import asyncio

from tests.conftest import Csms
from tests.protocol.raw import RawStation
from tests.support.chargepoint import TestChargePoint


async def test_invalid_payload_is_422_and_nothing_is_sent(
    csms: Csms, station: TestChargePoint
) -> None:
    for payload in ({"type": "Medium"}, {}, {"type": "Hard", "extra": 1}):
        response = await csms.command("CP1", "Reset", payload)
        assert response.status_code == 422, response.text
        assert "Reset" in response.json()["detail"]
    bad_typed = await csms.api.post("/stations/CP1/reset", json={"type": "Medium"})
    assert bad_typed.status_code == 422
    assert "type" in bad_typed.json()["detail"]
    not_an_object = await csms.api.post("/stations/CP1/ocpp/Reset", json=["Hard"])
    assert not_an_object.status_code == 422
    await asyncio.sleep(0.2)
    assert station.sent("Reset") == []


async def test_unknown_and_station_only_actions_are_422(
    csms: Csms, station: TestChargePoint
) -> None:
    unknown = await csms.command("CP1", "MakeCoffee", {})
    assert unknown.status_code == 422
    assert "MakeCoffee" in unknown.json()["detail"]
    heartbeat = await csms.command("CP1", "Heartbeat", {})
    assert heartbeat.status_code == 422
    assert "station" in heartbeat.json()["detail"]
    assert station.received == []


async def test_not_connected_is_409(csms: Csms) -> None:
    await csms.add_station("CP1")
    response = await csms.command("CP1", "Reset", {"type": "Hard"})
    assert response.status_code == 409
    assert "not connected" in response.json()["detail"]


async def test_rejected_station_gets_no_commands(csms: Csms) -> None:
    await csms.add_station("CP1", bootPolicy="Rejected")
    raw = await RawStation.open(csms.url("CP1"))
    assert (await raw.boot())[2]["status"] == "Rejected"
    response = await csms.command("CP1", "Reset", {"type": "Hard"})
    assert response.status_code == 409
    assert "Rejected" in response.json()["detail"]
    await raw.expect_silence()
    await raw.close()


async def test_unknown_station_is_404(csms: Csms) -> None:
    response = await csms.command("NOPE", "Reset", {"type": "Hard"})
    assert response.status_code == 404


async def test_timeout_is_504(csms: Csms) -> None:
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    response = await csms.command("CP1", "ClearCache", {}, timeout=0.3)
    assert response.status_code == 504
    assert "ClearCache" in response.json()["detail"]
    bad_timeout = await csms.command("CP1", "ClearCache", {}, timeout=0)
    assert bad_timeout.status_code == 422
    await raw.close()


async def test_callerror_from_station_is_502(csms: Csms) -> None:
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    task = asyncio.create_task(csms.command("CP1", "ClearCache", {}))
    frame = await raw.recv()
    await raw.send([4, frame[1], "InternalError", "broken", {"why": "test"}])
    response = await task
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail["errorCode"] == "InternalError"
    assert detail["errorDescription"] == "broken"
    assert detail["errorDetails"] == {"why": "test"}
    # The answer is recorded in the message log.
    for _ in range(50):
        log = (await csms.api.get("/stations/CP1/messages")).json()
        if any(m["messageType"] == 4 for m in log):
            break
        await asyncio.sleep(0.1)
    errors = [m for m in log if m["messageType"] == 4]
    assert errors and errors[0]["action"] == "ClearCache" and errors[0]["direction"] == "in"
    await raw.close()
