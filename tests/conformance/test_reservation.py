"""Reservation (OCTT §3.17) and the reservation lifecycle WattHub tracks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conformance.core_helpers import assert_sent_only
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from tests.support.poll import eventually
from watthub.domain import reservation
from watthub.storage import reservations_repo
from watthub.timeutil import parse_ts, utcnow


async def _reserve(csms: Csms, station_id: str = "CP1", **body: Any) -> dict[str, Any]:
    body.setdefault("expiresIn", 300)
    response = await csms.api.post(f"/stations/{station_id}/reserve-now", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _reservation(csms: Csms, reservation_id: int, station_id: str = "CP1") -> dict[str, Any]:
    rows = (await csms.api.get(f"/stations/{station_id}/reservations")).json()
    return next(r for r in rows if r["reservationId"] == reservation_id)


async def test_tc_046_reservation_transaction(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    answer = await _reserve(csms, connectorId=1, idTag="TAG1")
    assert answer["status"] == "Accepted"
    rid = answer["reservationId"]
    sent = station.sent("ReserveNow")[0]
    assert sent["connectorId"] == 1
    assert sent["idTag"] == "TAG1"
    assert sent["reservationId"] == rid
    assert parse_ts(sent["expiryDate"]) > utcnow()
    await station.status(1, "Reserved")
    assert (await _reservation(csms, rid))["status"] == "active"
    # Reusable state Charging, with the reservation id.
    auth = await station.authorize("TAG1")
    assert auth.id_tag_info["status"] == "Accepted"
    await station.status(1, "Preparing")
    start = await station.start_transaction("TAG1", 1, reservation_id=rid)
    assert start.id_tag_info["status"] == "Accepted"
    await station.status(1, "Charging")
    row = await eventually(
        lambda: _reservation(csms, rid), lambda r: r["transactionId"] is not None
    )
    assert row["status"] == "used"
    assert row["transactionId"] == start.transaction_id
    tx = (await csms.api.get(f"/transactions/{start.transaction_id}")).json()
    assert tx["reservationId"] == rid
    await assert_sent_only(station, "ReserveNow")


async def test_tc_047_reservation_expire(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    before = utcnow()
    answer = await _reserve(csms, connectorId=1, idTag="TAG1", expiresIn=1)
    after = utcnow()
    assert answer["status"] == "Accepted"
    sent = station.sent("ReserveNow")[0]
    # One second from when the request was handled: between our send and the answer (a busy
    # machine may take a while to answer, so the bound is taken from both ends).
    expiry = parse_ts(sent["expiryDate"])
    assert before + timedelta(seconds=0.9) <= expiry <= after + timedelta(seconds=1.1)
    await station.status(1, "Reserved")
    # WattHub expires it itself, without waiting for the station's word.
    row = await eventually(
        lambda: _reservation(csms, answer["reservationId"]),
        lambda r: r["status"] == "expired",
        timeout=5,
    )
    assert row["endedAt"] is not None
    await station.status(1, "Available")
    connectors = (await csms.api.get("/stations/CP1")).json()["connectors"]
    assert next(c for c in connectors if c["connectorId"] == 1)["status"] == "Available"
    await assert_sent_only(station, "ReserveNow")


async def _refused(csms: Csms, station: TestChargePoint, answer: str) -> dict[str, Any]:
    await csms.add_tag("TAG1")
    station.answers["ReserveNow"] = {"status": answer}
    result = await _reserve(csms, connectorId=1, idTag="TAG1")
    assert result["status"] == answer
    sent = station.sent("ReserveNow")[-1]
    assert sent["connectorId"] == 1 and sent["idTag"] == "TAG1"
    row = await _reservation(csms, result["reservationId"])
    assert row["status"] == "refused"
    assert row["stationAnswer"] == answer
    return row


async def test_tc_048_1_reservation_faulted(csms: Csms, station: TestChargePoint) -> None:
    await _refused(csms, station, "Faulted")
    await assert_sent_only(station, "ReserveNow")


async def test_tc_048_2_reservation_occupied(csms: Csms, station: TestChargePoint) -> None:
    await station.status(1, "Preparing")
    await _refused(csms, station, "Occupied")
    await assert_sent_only(station, "ReserveNow")


async def test_tc_048_3_reservation_unavailable(csms: Csms, station: TestChargePoint) -> None:
    response = await csms.api.post(
        "/stations/CP1/change-availability", json={"connectorId": 1, "type": "Inoperative"}
    )
    assert response.status_code == 200, response.text
    assert station.sent("ChangeAvailability") == [{"connectorId": 1, "type": "Inoperative"}]
    await station.status(1, "Unavailable")
    await _refused(csms, station, "Unavailable")
    await assert_sent_only(station, "ChangeAvailability", "ReserveNow")


async def test_tc_048_4_reservation_rejected(csms: Csms, station: TestChargePoint) -> None:
    await _refused(csms, station, "Rejected")
    await assert_sent_only(station, "ReserveNow")


async def test_tc_049_reservation_of_a_charge_point(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    answer = await _reserve(csms, connectorId=0, idTag="TAG1")
    assert answer["status"] == "Accepted"
    rid = answer["reservationId"]
    sent = station.sent("ReserveNow")[0]
    assert sent["connectorId"] == 0
    assert sent["idTag"] == "TAG1" and sent["reservationId"] == rid
    await station.status(1, "Reserved")
    row = await _reservation(csms, rid)
    assert row["status"] == "active" and row["connectorId"] == 0
    # The station picks a connector; the reservation id is honoured there.
    start = await station.start_transaction("TAG1", 1, reservation_id=rid)
    assert start.id_tag_info["status"] == "Accepted"
    row = await eventually(lambda: _reservation(csms, rid), lambda r: r["status"] == "used")
    assert row["connectorId"] == 0
    await assert_sent_only(station, "ReserveNow")


async def test_tc_051_cancel_reservation(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    answer = await _reserve(csms, connectorId=1, idTag="TAG1")
    rid = answer["reservationId"]
    assert station.sent("ReserveNow")[0]["connectorId"] != 0
    await station.status(1, "Reserved")
    response = await csms.api.post("/stations/CP1/cancel-reservation", json={"reservationId": rid})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted"}
    assert station.sent("CancelReservation") == [{"reservationId": rid}]
    await station.status(1, "Available")
    row = await _reservation(csms, rid)
    assert row["status"] == "cancelled"
    assert row["cancelAnswer"] == "Accepted"
    await assert_sent_only(station, "ReserveNow", "CancelReservation")


async def test_tc_052_cancel_reservation_rejected(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    rid = (await _reserve(csms, connectorId=1, idTag="TAG1"))["reservationId"]
    await station.status(1, "Reserved")
    station.answers["CancelReservation"] = {"status": "Rejected"}
    # Through the generic endpoint: the same hooks record the answer.
    response = await csms.command("CP1", "CancelReservation", {"reservationId": rid})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Rejected"}
    assert station.sent("CancelReservation") == [{"reservationId": rid}]
    row = await _reservation(csms, rid)
    assert row["cancelAnswer"] == "Rejected"
    assert row["status"] == "active"  # the station's refusal changes nothing WattHub decided
    await assert_sent_only(station, "ReserveNow", "CancelReservation")


async def test_tc_053_use_reserved_connector_with_parent_id_tag(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("PARENT")
    await csms.add_tag("TAG1", parentIdTag="PARENT")
    await csms.add_tag("TAG2", parentIdTag="PARENT")
    answer = await _reserve(csms, connectorId=1, idTag="TAG1")
    assert answer["status"] == "Accepted"
    rid = answer["reservationId"]
    sent = station.sent("ReserveNow")[0]
    assert sent["connectorId"] != 0
    assert sent["parentIdTag"] == "PARENT"  # the reserved tag's group, filled in by WattHub
    await station.status(1, "Reserved")
    # Another tag of the same group charges on the reservation.
    auth = await station.authorize("TAG2")
    assert auth.id_tag_info == {"status": "Accepted", "parent_id_tag": "PARENT"}
    await station.status(1, "Preparing")
    start = await station.start_transaction("TAG2", 1, reservation_id=rid)
    assert start.id_tag_info == {"status": "Accepted", "parent_id_tag": "PARENT"}
    await station.status(1, "Charging")
    row = await eventually(
        lambda: _reservation(csms, rid), lambda r: r["transactionId"] is not None
    )
    assert row["status"] == "used"
    assert row["parentIdTag"] == "PARENT"
    await assert_sent_only(station, "ReserveNow")


async def test_reserved_connector_refuses_other_tags(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1", parentIdTag="GROUP")
    await csms.add_tag("STRANGER")
    rid = (await _reserve(csms, connectorId=1, idTag="TAG1"))["reservationId"]
    start = await station.start_transaction("STRANGER", 1)
    assert start.id_tag_info["status"] != "Accepted"
    wrong = await station.start_transaction("STRANGER", 1, reservation_id=rid)
    assert wrong.id_tag_info["status"] != "Accepted"
    assert (await _reservation(csms, rid))["status"] == "active"
    # Another connector is free for anyone (a new tag: STRANGER's refused starts are open).
    await csms.add_tag("PASSERBY")
    other = await station.start_transaction("PASSERBY", 2)
    assert other.id_tag_info["status"] == "Accepted"


async def test_reservation_ids_unique_and_explicit_id_kept(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    first = await _reserve(csms, connectorId=1, idTag="TAG1")
    second = await _reserve(csms, connectorId=2, idTag="TAG1")
    assert first["reservationId"] != second["reservationId"]
    expiry = (utcnow() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Generic endpoint without an id: WattHub fills it; with one: it is kept.
    filled = await csms.command(
        "CP1", "ReserveNow", {"connectorId": 1, "idTag": "TAG1", "expiryDate": expiry}
    )
    assert filled.status_code == 200, filled.text
    assert station.sent("ReserveNow")[-1]["reservationId"] not in (
        first["reservationId"],
        second["reservationId"],
    )
    kept = await csms.command(
        "CP1",
        "ReserveNow",
        {"connectorId": 1, "idTag": "TAG1", "expiryDate": expiry, "reservationId": 777},
    )
    assert kept.status_code == 200, kept.text
    assert station.sent("ReserveNow")[-1]["reservationId"] == 777
    assert (await _reservation(csms, 777))["status"] == "active"
    bad = await csms.api.post("/stations/CP1/reserve-now", json={"connectorId": 1, "idTag": "TAG1"})
    assert bad.status_code == 422


async def test_reservation_not_used_by_a_start_answered_concurrent_tx(
    csms: Csms, station: TestChargePoint
) -> None:
    """A StartTransaction naming the reservation but answered ConcurrentTx (the tag already
    charges elsewhere) leaves the reservation active; the next Accepted start uses it."""
    await csms.add_tag("TAG1")
    await station.status(2, "Available")
    first = await station.charging("TAG1", connector_id=1)
    answer = await _reserve(csms, connectorId=2, idTag="TAG1")
    assert answer["status"] == "Accepted"
    rid = answer["reservationId"]
    await station.status(2, "Reserved")

    refused = await station.start_transaction("TAG1", 2, reservation_id=rid)
    assert refused.id_tag_info["status"] == "ConcurrentTx"
    await csms.hub.services.events.drain()
    row = await _reservation(csms, rid)
    assert row["status"] == "active"
    assert row["transactionId"] is None and row["endedAt"] is None
    await station.stop_transaction(refused.transaction_id, reason="DeAuthorized")

    await station.stop_transaction(first)
    start = await station.start_transaction("TAG1", 2, reservation_id=rid)
    assert start.id_tag_info["status"] == "Accepted"
    row = await _reservation(csms, rid)  # used in the same commit as the transaction
    assert row["status"] == "used"
    assert row["transactionId"] == start.transaction_id


async def test_reservations_are_asked_about_only_at_stations_that_may_hold_one(
    csms: Csms, station: TestChargePoint, monkeypatch: Any
) -> None:
    """A StartTransaction at a station without reservations asks the database nothing about
    them; once a reservation is made there (on this node or another), every start checks."""
    asked: list[str] = []
    real = reservations_repo.active_for

    async def active_for(conn: Any, station_id: str) -> list[dict[str, Any]]:
        asked.append(station_id)
        return await real(conn, station_id)

    monkeypatch.setattr(reservations_repo, "active_for", active_for)
    holders = reservation.Holders.of(csms.hub.services)

    async def loaded() -> bool:
        return not holders.everyone

    await eventually(loaded, bool)
    await csms.add_tag("TAG1")
    await csms.add_tag("STRANGER")
    free = await station.start_transaction("TAG1", 1)
    assert free.id_tag_info["status"] == "Accepted"
    assert asked == []
    await station.stop_transaction(free.transaction_id)

    await _reserve(csms, connectorId=2, idTag="TAG1")
    refused = await station.start_transaction("STRANGER", 2)
    assert refused.id_tag_info["status"] == "Invalid"
    assert asked == ["CP1"]
