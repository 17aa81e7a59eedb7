"""Remote Trigger (OCTT §3.18): TriggerMessage and the triggered messages."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call

from tests.conformance.core_helpers import assert_sent_only
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.storage import transactions_repo
from watthub.timeutil import now_ts


async def _trigger(csms: Csms, station_id: str = "CP1", **body: Any) -> dict[str, Any]:
    response = await csms.api.post(f"/stations/{station_id}/trigger-message", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _history(csms: Csms, station_id: str = "CP1") -> list[dict[str, Any]]:
    return (await csms.api.get(f"/stations/{station_id}/trigger-requests")).json()  # type: ignore[no-any-return]


async def test_tc_054_trigger_message(csms: Csms, station: TestChargePoint) -> None:
    # 1. MeterValues for the connector, outside any transaction
    assert await _trigger(csms, requestedMessage="MeterValues", connectorId=1) == {
        "status": "Accepted"
    }
    assert station.sent("TriggerMessage")[-1] == {
        "requestedMessage": "MeterValues",
        "connectorId": 1,
    }
    answer = await station.call(
        call.MeterValues(
            connector_id=1,
            meter_value=[
                {
                    "timestamp": now_ts(),
                    "sampledValue": [{"value": "1234", "context": "Trigger"}],
                }
            ],
        )
    )
    assert answer is not None  # an empty MeterValues.conf
    # 2. Heartbeat
    assert (await _trigger(csms, requestedMessage="Heartbeat"))["status"] == "Accepted"
    assert station.sent("TriggerMessage")[-1] == {"requestedMessage": "Heartbeat"}
    beat = await station.call(call.Heartbeat())
    assert beat.current_time
    # 3. StatusNotification for the connector
    await _trigger(csms, requestedMessage="StatusNotification", connectorId=1)
    assert station.sent("TriggerMessage")[-1] == {
        "requestedMessage": "StatusNotification",
        "connectorId": 1,
    }
    await station.status(1, "Available")
    # 4. DiagnosticsStatusNotification → Idle
    await _trigger(csms, requestedMessage="DiagnosticsStatusNotification")
    assert station.sent("TriggerMessage")[-1] == {
        "requestedMessage": "DiagnosticsStatusNotification"
    }
    assert await station.call(call.DiagnosticsStatusNotification(status="Idle")) is not None
    # 5. FirmwareStatusNotification → Idle (or NotImplemented by the station)
    await _trigger(csms, requestedMessage="FirmwareStatusNotification")
    assert await station.call(call.FirmwareStatusNotification(status="Idle")) is not None
    station.answers["TriggerMessage"] = {"status": "NotImplemented"}
    assert (await _trigger(csms, requestedMessage="FirmwareStatusNotification"))[
        "status"
    ] == "NotImplemented"
    history = await _history(csms)
    assert [(h["requestedMessage"], h["connectorId"], h["status"]) for h in history[::-1]] == [
        ("MeterValues", 1, "Accepted"),
        ("Heartbeat", None, "Accepted"),
        ("StatusNotification", 1, "Accepted"),
        ("DiagnosticsStatusNotification", None, "Accepted"),
        ("FirmwareStatusNotification", None, "Accepted"),
        ("FirmwareStatusNotification", None, "NotImplemented"),
    ]
    # The triggered messages were processed as usual: the meter value is stored.
    async with csms.hub.services.engine.connect() as conn:
        rows = await transactions_repo.meter_values_for(conn, station_id="CP1")
    assert [(r["value"], r["transaction_id"], r["context"]) for r in rows] == [
        ("1234", None, "Trigger")
    ]
    await assert_sent_only(station, *["TriggerMessage"] * 6)


async def test_tc_055_trigger_message_rejected(csms: Csms, station: TestChargePoint) -> None:
    station.answers["TriggerMessage"] = {"status": "Rejected"}
    response = await csms.command(
        "CP1", "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Rejected"}
    assert station.sent("TriggerMessage") == [{"requestedMessage": "MeterValues", "connectorId": 1}]
    history = await _history(csms)
    assert history[0]["status"] == "Rejected"
    assert history[0]["requestedMessage"] == "MeterValues"
    await assert_sent_only(station, "TriggerMessage")


async def test_boot_notification_trigger_refused_after_accepted_boot(
    csms: Csms, station: TestChargePoint
) -> None:
    typed = await csms.api.post(
        "/stations/CP1/trigger-message", json={"requestedMessage": "BootNotification"}
    )
    generic = await csms.command("CP1", "TriggerMessage", {"requestedMessage": "BootNotification"})
    for response in (typed, generic):
        assert response.status_code == 409
        assert "errata §3.40" in response.json()["detail"]
    assert station.sent("TriggerMessage") == []


async def test_boot_notification_trigger_allowed_while_pending(csms: Csms) -> None:
    await csms.add_station("CP9", bootPolicy="Pending")
    cp = await csms.connect("CP9")
    assert (await cp.boot()).status == "Pending"
    assert (await _trigger(csms, "CP9", requestedMessage="BootNotification"))[
        "status"
    ] == "Accepted"
    assert cp.sent("TriggerMessage") == [{"requestedMessage": "BootNotification"}]


async def test_trigger_message_bad_input(csms: Csms, station: TestChargePoint) -> None:
    for body in (
        {"requestedMessage": "StartTransaction"},
        {"requestedMessage": "MeterValues", "connectorId": 0},
    ):
        response = await csms.api.post("/stations/CP1/trigger-message", json=body)
        assert response.status_code == 422, body
    assert station.sent("TriggerMessage") == []
