"""Core OCTT cases: cold boot (3.1), reset (3.5), power failure (3.11)."""

from __future__ import annotations

from datetime import datetime

from ocpp.v16 import call

from tests.conformance.core_helpers import (
    assert_nothing_unsolicited,
    assert_sent_only,
    connectors,
    transaction,
)
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint


async def test_tc_001_cold_boot(csms: Csms) -> None:
    await csms.add_station("CP1", heartbeatInterval=30)
    cp = await csms.connect("CP1")
    boot = await cp.boot(vendor="OCTT", model="Virtual", firmware_version="1.2.3")
    assert boot.status == "Accepted"
    assert boot.interval == 30
    assert boot.current_time.endswith("Z")
    datetime.fromisoformat(boot.current_time)
    for connector in (0, 1):
        assert await cp.status(connector, "Available") is not None
    beat = await cp.call(call.Heartbeat())
    assert beat.current_time.endswith("Z")
    await assert_nothing_unsolicited(cp)

    station = (await csms.api.get("/stations/CP1")).json()
    assert station["registrationStatus"] == "Accepted"
    assert station["vendor"] == "OCTT"
    assert station["firmwareVersion"] == "1.2.3"
    assert station["connected"] is True
    states = await connectors(csms)
    assert {k: v["status"] for k, v in states.items()} == {0: "Available", 1: "Available"}


async def _reset(csms: Csms, cp: TestChargePoint, kind: str) -> None:
    response = await csms.api.post("/stations/CP1/reset", json={"type": kind})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted"}
    assert (await cp.wait_for("Reset"))["type"] == kind
    # The station reboots: a second BootNotification on an accepted station is accepted.
    again = await cp.boot()
    assert again.status == "Accepted"
    for connector in (0, 1):
        await cp.status(connector, "Available")


async def test_tc_013_hard_reset(csms: Csms, station: TestChargePoint) -> None:
    await _reset(csms, station, "Hard")
    assert station.sent("Reset") == [{"type": "Hard"}]
    await assert_sent_only(station, "Reset")


async def test_tc_014_soft_reset(csms: Csms, station: TestChargePoint) -> None:
    # Through the generic endpoint this time.
    response = await csms.command("CP1", "Reset", {"type": "Soft"})
    assert response.status_code == 200, response.text
    assert (await station.wait_for("Reset"))["type"] == "Soft"
    assert (await station.boot()).status == "Accepted"
    await station.status(0, "Available")
    await station.status(1, "Available")
    assert station.sent("Reset") == [{"type": "Soft"}]
    await assert_sent_only(station, "Reset")


async def test_tc_032_1_power_failure_stop_transactions(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    # Power cycle: a new boot while the transaction is still open in our database.
    reboot = await station.boot()
    assert reboot.status == "Accepted"
    await station.status(0, "Available")
    await station.status(1, "Finishing")
    stop = await station.stop_transaction(tx, meter_stop=2500, reason="PowerLoss")
    assert stop is not None
    detail = await transaction(csms, tx)
    assert detail["active"] is False
    assert detail["stopReason"] == "PowerLoss"
    assert detail["meterStop"] == 2500
    assert (await connectors(csms))[1]["status"] == "Finishing"
    anomalies = (await csms.api.get("/stations/CP1/anomalies")).json()
    assert anomalies["stopTransactions"] == []
    await assert_sent_only(station)
