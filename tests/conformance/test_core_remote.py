"""Core OCTT cases: remote actions (3.4, 3.9), unlocking (3.6, 3.10), cache (3.3 TC_061)."""

from __future__ import annotations

from tests.conformance.core_helpers import assert_sent_only, connectors, transaction
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from tests.support.poll import eventually


async def test_tc_061_clear_authorization_data_in_authorization_cache(
    csms: Csms, station: TestChargePoint
) -> None:
    response = await csms.api.post("/stations/CP1/clear-cache", json={})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted"}
    assert await station.wait_for("ClearCache") == {}

    async def logged() -> set[tuple[str, int]]:
        # The message log is written in the background (loss-tolerant batches): wait for it.
        r = await csms.api.get("/stations/CP1/messages", params={"action": "ClearCache"})
        return {(m["direction"], m["messageType"]) for m in r.json()}

    assert await eventually(logged, lambda pairs: len(pairs) == 2) == {("out", 2), ("in", 3)}
    await assert_sent_only(station, "ClearCache")


async def test_tc_010_remote_start_charging_session_cable_plugged_in_first(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    await station.status(1, "Preparing")
    response = await csms.api.post(
        "/stations/CP1/remote-start", json={"idTag": "TAG1", "connectorId": 1}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted"}
    assert await station.wait_for("RemoteStartTransaction") == {"idTag": "TAG1", "connectorId": 1}
    assert (await station.authorize("TAG1")).id_tag_info["status"] == "Accepted"
    start = await station.start_transaction("TAG1", connector_id=1)
    assert start.id_tag_info["status"] == "Accepted"
    await station.status(1, "Charging")
    assert (await transaction(csms, start.transaction_id))["active"] is True
    await assert_sent_only(station, "RemoteStartTransaction")


async def test_tc_011_1_remote_start_charging_session_remote_start_first(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    # The generic endpoint, without connectorId: the station picks one.
    response = await csms.command("CP1", "RemoteStartTransaction", {"idTag": "TAG1"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    assert await station.wait_for("RemoteStartTransaction") == {"idTag": "TAG1"}
    assert (await station.authorize("TAG1")).id_tag_info["status"] == "Accepted"
    await station.status(1, "Preparing")
    start = await station.start_transaction("TAG1")
    assert start.id_tag_info["status"] == "Accepted"
    await station.status(1, "Charging")
    assert (await connectors(csms))[1]["status"] == "Charging"
    await assert_sent_only(station, "RemoteStartTransaction")


async def test_tc_011_2_remote_start_charging_session_time_out(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    response = await csms.api.post("/stations/CP1/remote-start", json={"idTag": "TAG1"})
    assert response.json() == {"status": "Accepted"}
    assert await station.wait_for("RemoteStartTransaction") == {"idTag": "TAG1"}
    assert (await station.authorize("TAG1")).id_tag_info["status"] == "Accepted"
    await station.status(1, "Preparing")
    await station.status(1, "Available")  # connection timeout: no transaction
    assert (await csms.api.get("/transactions")).json() == []
    assert (await connectors(csms))[1]["status"] == "Available"
    assert len(station.sent("RemoteStartTransaction")) == 1
    await assert_sent_only(station, "RemoteStartTransaction")


async def test_tc_012_remote_stop_charging_session(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    response = await csms.api.post("/stations/CP1/remote-stop", json={"transactionId": tx})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted"}
    assert await station.wait_for("RemoteStopTransaction") == {"transactionId": tx}
    await station.stop_transaction(tx, meter_stop=900, reason="Remote")
    await station.status(1, "Finishing")
    await station.status(1, "Available")
    detail = await transaction(csms, tx)
    assert detail["stopReason"] == "Remote"
    assert detail["active"] is False
    await assert_sent_only(station, "RemoteStopTransaction")


async def test_tc_017_1_unlock_connector_no_charging_session_not_fixed_cable(
    csms: Csms, station: TestChargePoint
) -> None:
    response = await csms.api.post("/stations/CP1/unlock-connector", json={"connectorId": 1})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Unlocked"}
    assert await station.wait_for("UnlockConnector") == {"connectorId": 1}
    await assert_sent_only(station, "UnlockConnector")


async def test_tc_017_2_unlock_connector_no_charging_session_fixed_cable(
    csms: Csms, station: TestChargePoint
) -> None:
    station.answers["UnlockConnector"] = {"status": "NotSupported"}
    response = await csms.command("CP1", "UnlockConnector", {"connectorId": 1})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "NotSupported"}
    assert await station.wait_for("UnlockConnector") == {"connectorId": 1}
    await assert_sent_only(station, "UnlockConnector")


async def test_tc_018_1_unlock_connector_with_charging_session(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    response = await csms.api.post("/stations/CP1/unlock-connector", json={"connectorId": 1})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Unlocked"}
    assert await station.wait_for("UnlockConnector") == {"connectorId": 1}
    await station.status(1, "Finishing")
    await station.stop_transaction(tx, reason="UnlockCommand")
    await station.status(1, "Available")
    detail = await transaction(csms, tx)
    assert detail["stopReason"] == "UnlockCommand"
    assert detail["active"] is False
    await assert_sent_only(station, "UnlockConnector")


async def test_tc_026_remote_start_charging_session_rejected(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    station.answers["RemoteStartTransaction"] = {"status": "Rejected"}
    response = await csms.api.post(
        "/stations/CP1/remote-start", json={"idTag": "TAG1", "connectorId": 1}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Rejected"}
    assert (await station.wait_for("RemoteStartTransaction"))["idTag"] == "TAG1"
    # The station stays usable.
    assert (await csms.api.get("/stations/CP1")).json()["connected"] is True
    await assert_sent_only(station, "RemoteStartTransaction")


async def test_tc_028_remote_stop_transaction_rejected(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    station.answers["RemoteStopTransaction"] = {"status": "Rejected"}
    unknown = tx + 4242  # a transactionId WattHub never assigned
    response = await csms.api.post("/stations/CP1/remote-stop", json={"transactionId": unknown})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Rejected"}
    assert await station.wait_for("RemoteStopTransaction") == {"transactionId": unknown}
    assert (await transaction(csms, tx))["active"] is True
    await assert_sent_only(station, "RemoteStopTransaction")


async def test_tc_030_unlock_connector_unlock_failure(csms: Csms, station: TestChargePoint) -> None:
    station.answers["UnlockConnector"] = {"status": "UnlockFailed"}
    response = await csms.api.post("/stations/CP1/unlock-connector", json={"connectorId": 1})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "UnlockFailed"}
    assert await station.wait_for("UnlockConnector") == {"connectorId": 1}
    await assert_sent_only(station, "UnlockConnector")


async def test_tc_031_unlock_connector_unknown_connector(
    csms: Csms, station: TestChargePoint
) -> None:
    station.answers["UnlockConnector"] = {"status": "NotSupported"}
    response = await csms.api.post("/stations/CP1/unlock-connector", json={"connectorId": 7})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "NotSupported"}
    assert await station.wait_for("UnlockConnector") == {"connectorId": 7}
    await assert_sent_only(station, "UnlockConnector")
