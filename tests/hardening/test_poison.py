"""One bad station must not hurt the others (issue #11 §2): values no database column can hold are
refused at the edge with the OCPP 1.6 code, on SQLite and PostgreSQL alike, and the connection
and everything stored with them (the message log) keep working."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Csms
from tests.protocol.raw import RawStation
from tests.support.poll import eventually
from watthub.timeutil import now_ts


@pytest.fixture
async def raw(csms: Csms) -> Any:
    await csms.add_station("CP1")
    await csms.add_tag("TAG1")
    station = await RawStation.open(csms.url("CP1"))
    yield station
    await station.close()


def start_payload(**fields: Any) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "idTag": "TAG1",
        "meterStart": 0,
        "timestamp": now_ts(),
        **fields,
    }


async def _messages(csms: Csms, station_id: str = "CP1") -> list[dict[str, Any]]:
    response = await csms.api.get(f"/stations/{station_id}/messages", params={"limit": 500})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _logged_frame(csms: Csms, message_id: str, direction: str = "in") -> Any:
    """The message log's frame for ``message_id`` (waits for the loss-tolerant write)."""
    rows = await eventually(
        lambda: _messages(csms),
        lambda rows: any(
            isinstance(m["frame"], list) and m["frame"][1] == message_id for m in rows
        ),
    )
    return next(
        m["frame"]
        for m in rows
        if isinstance(m["frame"], list)
        and m["frame"][1] == message_id
        and m["direction"] == direction
    )


@pytest.mark.parametrize(
    "payload",
    [
        start_payload(meterStart=2**31),
        start_payload(meterStart=-(2**31) - 1),
        start_payload(connectorId=2**40),
        start_payload(reservationId=2**63),
    ],
    ids=["meterStart=2^31", "meterStart=-2^31-1", "connectorId=2^40", "reservationId=2^63"],
)
async def test_out_of_range_integer_gets_property_constraint_violation(
    csms: Csms, raw: RawStation, payload: dict[str, Any]
) -> None:
    answer = await raw.call("big-1", "StartTransaction", payload)
    # Not InternalError: on a transaction message that makes the charger retry for ever.
    assert answer[:3] == [4, "big-1", "PropertyConstraintViolation"], answer
    assert "32-bit" in answer[3]
    await raw.alive()
    # The frame is in the message log (its batch committed), and a good start still works.
    answer = await raw.call("ok-1", "StartTransaction", start_payload(meterStart=2**31 - 1))
    assert answer[0] == 3 and answer[2]["idTagInfo"]["status"] == "Accepted", answer
    assert (await _logged_frame(csms, "big-1"))[2] == "StartTransaction"


async def test_twenty_digit_integer_is_refused_not_stored(csms: Csms, raw: RawStation) -> None:
    # 99999999999999999999 does not fit 64 bits; the JSON parser reads it as 1e20.
    await raw.send_raw(
        '[2,"huge-1","StartTransaction",{"connectorId":1,"idTag":"TAG1",'
        f'"meterStart":99999999999999999999,"timestamp":"{now_ts()}"}}]'
    )
    answer = await raw.recv()
    assert answer[:3] == [4, "huge-1", "PropertyConstraintViolation"], answer
    await raw.alive()
    response = await csms.api.get("/transactions")
    assert response.status_code == 200 and response.json() == []


async def test_escaped_nul_in_a_string_is_refused(csms: Csms, raw: RawStation) -> None:
    answer = await raw.call(
        "nul-1", "BootNotification", {"chargePointVendor": "Ven\u0000dor", "chargePointModel": "M"}
    )
    assert answer[:3] == [4, "nul-1", "PropertyConstraintViolation"], answer
    assert "NUL" in answer[3]
    await raw.alive()
    boot = await raw.boot()
    assert boot[0] == 3 and boot[2]["status"] == "Accepted"
    # The refused frame itself is logged (JSON-escaped, storable on PostgreSQL too).
    frame = await _logged_frame(csms, "nul-1")
    assert frame[3]["chargePointVendor"] == "Ven\u0000dor"


async def test_raw_nul_byte_frame_is_logged_and_answered(csms: Csms, raw: RawStation) -> None:
    await raw.send_raw(b'[2,"raw-1","Heartbeat",{"x":"a\x00b"}]'.decode())
    answer = await raw.recv()
    assert answer[:3] == [4, "raw-1", "FormationViolation"], answer
    await raw.alive()
    # Stored with the NUL byte escaped: the log row reads back as the frame that was sent.
    frame = await _logged_frame(csms, "raw-1")
    assert frame[3] == {"x": "a\u0000b"}


async def test_lenient_station_cannot_pass_an_unstorable_value(csms: Csms) -> None:
    await csms.add_station("LEN1", validationPolicy="lenient")
    await csms.add_tag("TAG1")
    station = await RawStation.open(csms.url("LEN1"))
    try:
        # The first schema problem (an unknown field) is one lenient mode lets through; the
        # out-of-range meterStart behind it must still be refused.
        payload = start_payload(meterStart=2**40, vendorExtra="x")
        answer = await station.call("len-1", "StartTransaction", payload)
        assert answer[:3] == [4, "len-1", "PropertyConstraintViolation"], answer
        answer = await station.call("len-2", "StartTransaction", start_payload(vendorExtra="x"))
        assert answer[0] == 3, answer  # lenient mode itself still works
    finally:
        await station.close()


async def test_station_answer_with_unstorable_value_is_an_error(csms: Csms) -> None:
    cp = await csms.connect("CPANS")
    await cp.booted()
    cp.answers["GetLocalListVersion"] = {"listVersion": 2**40}
    response = await csms.command("CPANS", "GetLocalListVersion", {})
    # Not a 500 and not stored: the station's answer is reported as its error.
    assert response.status_code != 500, response.text
    assert "32-bit" in response.text
