"""Core OCTT cases: start charging (3.2), cache (3.3), basic non-happy actions (3.8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call

from tests.conformance.core_helpers import (
    assert_nothing_unsolicited,
    assert_sent_only,
    connectors,
    transaction,
)
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.timeutil import format_ts


async def test_tc_003_regular_charging_session_plugin_first(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    await station.status(1, "Preparing")
    auth = await station.authorize("TAG1")
    assert auth.id_tag_info["status"] == "Accepted"
    start = await station.start_transaction("TAG1", meter_start=100)
    assert start.id_tag_info["status"] == "Accepted"
    assert isinstance(start.transaction_id, int) and start.transaction_id > 0
    await station.status(1, "Charging")
    await assert_nothing_unsolicited(station)

    detail = await transaction(csms, start.transaction_id)
    assert detail["stationId"] == "CP1"
    assert detail["idTag"] == "TAG1"
    assert detail["idTagStatus"] == "Accepted"
    assert detail["meterStart"] == 100
    assert detail["active"] is True
    assert (await connectors(csms))[1]["status"] == "Charging"


async def test_tc_004_1_regular_charging_session_identification_first(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")  # Authorize, Preparing, StartTransaction, Charging
    await station.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=tx,
            meter_value=[
                {
                    "timestamp": format_ts(datetime.now(UTC)),
                    "sampledValue": [{"value": "150", "unit": "Wh"}],
                }
            ],
        )
    )
    detail = await transaction(csms, tx)
    assert detail["active"] is True
    assert [(m["value"], m["unit"]) for m in detail["meterValues"]] == [("150", "Wh")]
    listed = (await csms.api.get("/transactions", params={"stationId": "CP1"})).json()
    assert [t["id"] for t in listed] == [tx]
    await assert_sent_only(station)


async def test_tc_004_2_regular_charging_session_identification_first_connection_timeout(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    assert (await station.authorize("TAG1")).id_tag_info["status"] == "Accepted"
    await station.status(1, "Preparing")
    await station.status(1, "Available")  # ConnectionTimeOut: no StartTransaction follows
    await assert_nothing_unsolicited(station)
    assert (await connectors(csms))[1]["status"] == "Available"
    assert (await csms.api.get("/transactions")).json() == []
    history = (await csms.api.get("/stations/CP1/status-history")).json()
    assert {"Preparing", "Available"} <= {h["status"] for h in history}


async def test_tc_005_1_ev_side_disconnected(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    await station.status(1, "SuspendedEV")
    stop = await station.stop_transaction(
        tx, meter_stop=1800, id_tag="TAG1", reason="EVDisconnected"
    )
    assert stop.id_tag_info["status"] == "Accepted"
    await station.status(1, "Finishing")
    await station.status(1, "Available")
    detail = await transaction(csms, tx)
    assert detail["stopReason"] == "EVDisconnected"
    assert detail["energyWh"] == 1800
    assert detail["active"] is False
    assert (await connectors(csms))[1]["status"] == "Available"
    await assert_sent_only(station)


async def test_tc_007_regular_start_charging_session_cached_id(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    await station.status(1, "Preparing")
    # No Authorize first: the CSMS decides on the StartTransaction itself.
    start = await station.start_transaction("TAG1")
    assert start.id_tag_info["status"] == "Accepted"
    await station.status(1, "Charging")
    assert station.sent("ClearCache") == []

    # A tag the CSMS does not accept is refused on the StartTransaction too.
    await station.status(1, "Available")
    refused = await station.start_transaction("NOPE", connector_id=1)
    assert refused.id_tag_info["status"] == "Invalid"
    await assert_sent_only(station)


async def test_tc_023_1_start_charging_session_authorize_invalid(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("GOOD")
    auth = await station.authorize("UNKNOWN-TAG")
    assert auth.id_tag_info["status"] == "Invalid"
    # An explicitly invalid tag answers the same.
    await csms.add_tag("BAD", status="Invalid")
    assert (await station.authorize("BAD")).id_tag_info["status"] == "Invalid"
    assert (await csms.api.get("/transactions")).json() == []
    await assert_sent_only(station)


async def test_tc_023_2_start_charging_session_authorize_expired(
    csms: Csms, station: TestChargePoint
) -> None:
    past = format_ts(datetime.now(UTC) - timedelta(days=1))
    await csms.add_tag("OLD", expiryDate=past)
    await csms.add_tag("MARKED", status="Expired")
    assert (await station.authorize("OLD")).id_tag_info["status"] == "Expired"
    assert (await station.authorize("MARKED")).id_tag_info["status"] == "Expired"
    await assert_sent_only(station)


async def test_tc_023_3_start_charging_session_authorize_blocked(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("BLOCKED1", status="Blocked")
    auth = await station.authorize("BLOCKED1")
    assert auth.id_tag_info["status"] == "Blocked"
    # idTags are case-insensitive (CiString20).
    assert (await station.authorize("blocked1")).id_tag_info["status"] == "Blocked"
    await assert_sent_only(station)


async def test_tc_024_start_charging_session_lock_failure(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    assert (await station.authorize("TAG1")).id_tag_info["status"] == "Accepted"
    await station.status(1, "Preparing")
    answer = await station.status(1, "Faulted", error_code="ConnectorLockFailure")
    assert answer is not None
    await assert_nothing_unsolicited(station)
    state = (await connectors(csms))[1]
    assert state["status"] == "Faulted"
    assert state["errorCode"] == "ConnectorLockFailure"
