"""Core OCTT cases: offline behaviour (3.12) and data transfer (3.20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call

from tests.conformance.core_helpers import assert_sent_only, transaction
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.timeutil import format_ts, parse_ts


def _ago(minutes: int) -> str:
    return format_ts(datetime.now(UTC) - timedelta(minutes=minutes))


async def test_tc_037_1_offline_start_transaction_valid_idtag(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    started = _ago(30)
    start = await station.start_transaction("TAG1", timestamp=started)
    assert start.id_tag_info["status"] == "Accepted"
    await station.status(1, "Charging")
    detail = await transaction(csms, start.transaction_id)
    assert parse_ts(detail["startTime"]) == parse_ts(started)  # the past time is kept
    assert detail["active"] is True
    await assert_sent_only(station)


async def test_tc_037_3_offline_start_transaction_invalid_idtag(
    csms: Csms, station: TestChargePoint
) -> None:
    first = await station.start_transaction("INVALID1", timestamp=_ago(10))
    assert first.id_tag_info["status"] == "Invalid"
    assert isinstance(first.transaction_id, int) and first.transaction_id > 0
    await station.status(1, "Charging")
    stop = await station.stop_transaction(first.transaction_id, reason="DeAuthorized")
    assert stop is not None
    await station.status(1, "Finishing")
    # A second invalid start gets its own, new id.
    second = await station.start_transaction("INVALID2")
    assert second.transaction_id > 0 and second.transaction_id != first.transaction_id

    detail = await transaction(csms, first.transaction_id)
    assert detail["idTagStatus"] == "Invalid"
    assert detail["stopReason"] == "DeAuthorized"
    assert detail["active"] is False
    await assert_sent_only(station)


async def test_tc_039_offline_transaction(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    start = await station.start_transaction("TAG1", meter_start=10, timestamp=_ago(60))
    assert start.id_tag_info["status"] == "Accepted"
    stop = await station.stop_transaction(
        start.transaction_id,
        meter_stop=510,
        timestamp=_ago(5),
        reason="Local",
        id_tag="TAG1",
        transaction_data=[
            {"timestamp": _ago(30), "sampledValue": [{"value": "260", "unit": "Wh"}]}
        ],
    )
    assert stop.id_tag_info["status"] == "Accepted"
    detail = await transaction(csms, start.transaction_id)
    assert detail["stopReason"] == "Local"
    assert detail["energyWh"] == 500
    assert [m["value"] for m in detail["meterValues"]] == ["260"]
    assert parse_ts(detail["stopTime"]) < datetime.now(UTC) - timedelta(minutes=4)
    await assert_sent_only(station)


async def test_tc_064_data_transfer_to_a_central_system(
    csms: Csms, station: TestChargePoint
) -> None:
    answer = await station.call(
        call.DataTransfer(vendor_id="com.unknown.vendor", message_id="Test", data="x")
    )
    assert answer.status in ("Rejected", "UnknownMessageId", "UnknownVendorId")
    assert answer.status == "UnknownVendorId"
    assert answer.data is None
    await assert_sent_only(station)


async def test_status_notifications_sent_after_offline_keep_the_newest_state(
    csms: Csms, station: TestChargePoint
) -> None:
    # Queued while offline, delivered late: history records them all, the connector shows the
    # newest one by timestamp (spec §4.9).
    await station.status(1, "Charging")
    await station.status(1, "Preparing", timestamp=_ago(20))
    state = (await csms.api.get("/stations/CP1")).json()["connectors"]
    assert {c["connectorId"]: c["status"] for c in state}[1] == "Charging"
    history = (await csms.api.get("/stations/CP1/status-history")).json()
    assert "Preparing" in {h["status"] for h in history if h["connectorId"] == 1}
