"""What WattHub sends is valid OCPP: CALLs, CALLRESULTs, timestamps; and it is all logged."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from ocpp.v16 import call

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.ocppj import schemas
from watthub.ocppj.errors import OcppError

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class _Recorder:
    """A stand-in connection for the ocpp library's charge point: records what it sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, data: str) -> None:
        self.sent.append(data)

    async def recv(self) -> str:
        await asyncio.sleep(3600)
        return ""


async def test_test_charge_point_validates_the_calls_it_receives() -> None:
    """Our conformance tests rely on it: an invalid CALL from the CSMS would be refused."""
    connection = _Recorder()
    cp = TestChargePoint("X", connection)
    await cp.route_message('[2, "c-1", "Reset", {"type": "Medium"}]')
    await cp.route_message('[2, "c-2", "Reset", {"type": "Hard"}]')
    first, second = (orjson.loads(s) for s in connection.sent)
    assert first[0] == 4 and first[1] == "c-1"
    assert second == [3, "c-2", {"status": "Accepted"}]


async def _log(csms: Csms, station_id: str, expected: int) -> list[dict[str, Any]]:
    # The message log is written behind the answers (never slows them down): wait for it.
    for _ in range(50):
        entries = (await csms.api.get(f"/stations/{station_id}/messages")).json()
        if len(entries) >= expected:
            return entries  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(entries)} of {expected} messages logged")


def _timestamps(value: Any, key: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _timestamps(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _timestamps(v, key)]
    if key in ("currentTime", "timestamp", "expiryDate"):
        return [(key, value)]
    return []


async def test_every_frame_we_send_is_valid_and_logged(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1", expiryDate="2099-01-01T00:00:00+02:00")
    tx = await station.charging("TAG1")
    await station.call(call.Heartbeat())
    await station.call(call.DataTransfer(vendor_id="org.watthub", message_id="Echo", data="hi"))
    await station.stop_transaction(tx, id_tag="TAG1", reason="Local")
    for action, payload in [
        ("Reset", {"type": "Soft"}),
        ("GetConfiguration", {}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
        ("RemoteStopTransaction", {"transactionId": tx}),
    ]:
        response = await csms.command("CP1", action, payload)
        assert response.status_code == 200, response.text
    # boot + 2 status + (authorize, status, start, status) + heartbeat + datatransfer + stop = 10
    # station CALLs and their answers, plus 4 CALLs of ours and their answers.
    entries = await _log(csms, "CP1", 2 * 10 + 2 * 4)

    outgoing = [e for e in entries if e["direction"] == "out"]
    incoming = [e for e in entries if e["direction"] == "in"]
    assert len(outgoing) == len(incoming) == 14
    checked = 0
    for entry in outgoing:
        frame = entry["frame"]
        assert entry["messageId"] == frame[1]
        assert entry["messageType"] == frame[0]
        assert entry["action"] is not None
        if frame[0] == 2:
            assert frame[2] == entry["action"]
            schemas.validate(frame[2], frame[3])
            assert len(frame[1]) <= 36
        else:
            assert frame[0] == 3, frame  # no CALLERROR in a clean session
            schemas.validate(entry["action"], frame[2], response=True)
        for key, value in _timestamps(frame):
            assert TIMESTAMP.match(value), (key, value)
            checked += 1
    assert checked >= 3  # BootNotification and Heartbeat currentTime, the expiryDate
    for entry in incoming:
        assert entry["messageId"] == entry["frame"][1]
        assert entry["action"] is not None

    # Our CALLs and their answers are paired by id and action in the log.
    ours = {e["messageId"]: e["action"] for e in outgoing if e["messageType"] == 2}
    answers = {e["messageId"]: e["action"] for e in incoming if e["messageType"] == 3}
    assert ours == answers
    assert sorted(ours.values()) == sorted(
        ["Reset", "GetConfiguration", "ChangeConfiguration", "RemoteStopTransaction"]
    )


async def test_schema_validate_rejects_an_invalid_answer() -> None:
    with pytest.raises(OcppError):
        schemas.validate("BootNotification", {"status": "Accepted"}, response=True)
