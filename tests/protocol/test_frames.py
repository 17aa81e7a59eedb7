"""OCPP-J framing and schema edge cases, sent over a raw websocket."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Csms
from tests.protocol.raw import RawStation, status_payload


@pytest.fixture
async def raw(csms: Csms) -> RawStation:
    await csms.add_station("CP1")
    station = await RawStation.open(csms.url("CP1"))
    assert station.ws.subprotocol == "ocpp1.6"
    yield station
    await station.close()


async def test_malformed_json_with_readable_id_gets_formation_violation(raw: RawStation) -> None:
    await raw.send_raw('[2, "abc-1", "Heartbeat", {')
    answer = await raw.recv()
    assert answer[0] == 4 and answer[1] == "abc-1"
    assert answer[2] == "FormationViolation"
    assert answer[4] == {}
    await raw.alive()


async def test_malformed_json_without_id_is_not_answered(raw: RawStation) -> None:
    await raw.send_raw("this is not json at all")
    await raw.expect_silence()
    await raw.alive()


async def test_not_an_array_is_not_answered(raw: RawStation) -> None:
    await raw.send_raw('{"hello": "world"}')
    await raw.expect_silence()
    await raw.alive()


async def test_wrong_type_gets_type_constraint_violation(raw: RawStation) -> None:
    answer = await raw.call(
        "t-1", "BootNotification", {"chargePointVendor": 5, "chargePointModel": "M"}
    )
    assert answer[:3] == [4, "t-1", "TypeConstraintViolation"]
    await raw.alive()


async def test_missing_required_field_gets_occurence_constraint_violation(
    raw: RawStation,
) -> None:
    answer = await raw.call("m-1", "BootNotification", {"chargePointVendor": "V"})
    assert answer[:3] == [4, "m-1", "OccurenceConstraintViolation"]


async def test_bad_enum_gets_property_constraint_violation(raw: RawStation) -> None:
    answer = await raw.call("e-1", "StatusNotification", status_payload("Sleeping"))
    assert answer[:3] == [4, "e-1", "PropertyConstraintViolation"]


async def test_additional_property_gets_formation_violation(raw: RawStation) -> None:
    answer = await raw.call("a-1", "Heartbeat", {"extra": 1})
    assert answer[:3] == [4, "a-1", "FormationViolation"]


async def test_unknown_action_gets_not_implemented(raw: RawStation) -> None:
    answer = await raw.call("u-1", "MakeCoffee", {})
    assert answer[:3] == [4, "u-1", "NotImplemented"]
    await raw.alive()


async def test_csms_to_station_action_sent_by_station_gets_not_supported(
    raw: RawStation,
) -> None:
    answer = await raw.call("r-1", "Reset", {"type": "Hard"})
    assert answer[:3] == [4, "r-1", "NotSupported"]


async def test_message_id_longer_than_36_characters_gets_protocol_error(
    raw: RawStation,
) -> None:
    long_id = "x" * 37
    answer = await raw.call(long_id, "Heartbeat", {})
    assert answer[0] == 4 and answer[1] == long_id
    assert answer[2] == "ProtocolError"
    # Exactly 36 is fine.
    ok = await raw.call("y" * 36, "Heartbeat", {})
    assert ok[0] == 3


async def test_unknown_message_type_is_ignored(raw: RawStation) -> None:
    await raw.send([5, "z-1", "Heartbeat", {}])
    await raw.expect_silence()
    await raw.alive()


async def test_duplicate_message_id_while_handled(raw: RawStation) -> None:
    frame = '[2, "dup-1", "StatusNotification", %s]'
    import json

    body = json.dumps(status_payload())
    # Both frames in flight before the first one's database write is committed.
    await asyncio.gather(raw.send_raw(frame % body), raw.send_raw(frame % body))
    answers = [await raw.recv(), await raw.recv()]
    kinds = sorted(a[0] for a in answers)
    assert kinds == [3, 4], answers
    error = next(a for a in answers if a[0] == 4)
    assert error[1] == "dup-1" and error[2] == "ProtocolError"
    # Once answered, the id may be reused on the connection without trouble.
    await raw.alive("dup-2")


async def test_oversize_frame_closes_with_1009_and_server_keeps_serving(
    csms: Csms, raw: RawStation
) -> None:
    await csms.add_station("CP2")
    other = await RawStation.open(csms.url("CP2"))
    size = csms.hub.settings.max_frame_size
    payload = '[2, "big", "DataTransfer", {"vendorId": "v", "data": "%s"}]' % ("a" * (size + 10))
    with pytest.raises(Exception):  # noqa: B017 - the connection is closed under us
        await raw.send_raw(payload)
        await raw.recv()
    await asyncio.wait_for(raw.ws.wait_closed(), 5)
    assert raw.ws.close_code == 1009
    await other.alive()
    await other.close()


async def test_unknown_callresult_id_is_dropped(csms: Csms, raw: RawStation) -> None:
    await raw.send([3, "never-sent", {"status": "Accepted"}])
    await raw.send([4, "never-sent-either", "GenericError", "", {}])
    await raw.expect_silence()
    await raw.alive()
    log = (await csms.api.get("/stations/CP1/messages")).json()
    dropped = [m for m in log if m["messageId"] == "never-sent"]
    assert dropped and dropped[0]["direction"] == "in" and dropped[0]["action"] is None
