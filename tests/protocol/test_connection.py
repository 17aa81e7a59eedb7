"""The WebSocket handshake and connection life: subprotocol, identity, auth, reconnect."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.conftest import Csms, start_csms
from tests.protocol.raw import RawStation
from tests.support.chargepoint import basic_auth_header
from tests.support.poll import eventually


async def _refused(url: str, **kwargs: Any) -> InvalidStatus:
    kwargs.setdefault("subprotocols", ["ocpp1.6"])
    with pytest.raises(InvalidStatus) as caught:
        await websockets.connect(url, open_timeout=5, **kwargs)
    return caught.value


async def test_tc_088_no_ocpp16_offered_is_refused_with_400(csms: Csms) -> None:
    await csms.add_station("CP1")
    refused = await _refused(csms.url("CP1"), subprotocols=["ocpp2.0.1"])
    assert refused.response.status_code == 400
    refused = await _refused(csms.url("CP1"), subprotocols=None)
    assert refused.response.status_code == 400


async def test_tc_088_ocpp16_among_others_is_selected(csms: Csms) -> None:
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"), subprotocols=["ocpp1.5", "ocpp1.6"])
    assert raw.ws.subprotocol == "ocpp1.6"
    assert raw.ws.response.headers["Sec-WebSocket-Protocol"] == "ocpp1.6"
    await raw.alive()
    await raw.close()


async def test_unknown_station_gets_404(csms: Csms) -> None:
    refused = await _refused(csms.url("NOBODY"))
    assert refused.response.status_code == 404
    assert (await csms.api.get("/stations/NOBODY")).status_code == 404


async def test_percent_encoded_identity(csms: Csms) -> None:
    await csms.add_station("RDAM 123")
    raw = await RawStation.open(csms.url("RDAM%20123"))
    await raw.alive()
    assert (await csms.api.get("/stations/RDAM 123")).json()["connected"] is True
    await raw.close()


async def test_auto_registration_with_pending_policy(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    hub, csms = await start_csms(
        backend, tmp_path, tmp_path_factory, auto_register=True, auto_register_policy="Pending"
    )
    try:
        raw = await RawStation.open(csms.url("NEW-1"))
        boot = await raw.boot()
        assert boot[0] == 3 and boot[2]["status"] == "Pending"
        station = (await csms.api.get("/stations/NEW-1")).json()
        assert station["bootPolicy"] == "Pending"
        assert station["registrationStatus"] == "Pending"
        await raw.close()
    finally:
        await csms.api.aclose()
        await hub.stop()


async def test_basic_auth(csms: Csms) -> None:
    await csms.add_station("CP1", password="correct-horse-1")
    no_credentials = await _refused(csms.url("CP1"))
    wrong_password = await _refused(
        csms.url("CP1"), additional_headers=basic_auth_header("CP1", "wrong-password")
    )
    wrong_user = await _refused(
        csms.url("CP1"), additional_headers=basic_auth_header("CP9", "correct-horse-1")
    )
    for refused in (no_credentials, wrong_password, wrong_user):
        assert refused.response.status_code == 401
    # The same answer whatever was wrong.
    assert wrong_password.response.body == wrong_user.response.body == no_credentials.response.body
    cp = await csms.connect("CP1", password="correct-horse-1")
    assert (await cp.boot()).status == "Accepted"


async def test_reconnect_with_same_identity_replaces_old_connection(csms: Csms) -> None:
    await csms.add_station("CP1")
    old = await RawStation.open(csms.url("CP1"))
    await old.alive()
    new = await RawStation.open(csms.url("CP1"))
    await asyncio.wait_for(old.ws.wait_closed(), 5)
    await new.alive()

    # A command goes to the new connection.
    task = asyncio.create_task(csms.command("CP1", "ClearCache", {}))
    frame = await new.recv()
    assert frame[0] == 2 and frame[2] == "ClearCache"
    await new.send([3, frame[1], {"status": "Rejected"}])
    response = await task
    assert response.status_code == 200 and response.json() == {"status": "Rejected"}
    assert (await csms.api.get("/stations/CP1")).json()["connected"] is True
    await new.close()


async def test_disconnect_is_recorded_in_the_database(csms: Csms) -> None:
    """The console's online/offline (``connected_since``) follows the socket."""
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    await raw.alive()

    async def recorded() -> Any:
        return (await csms.api.get("/stations/CP1")).json()["connectedSince"]

    assert await eventually(recorded, lambda since: since is not None)
    await raw.close()
    assert await eventually(recorded, lambda since: since is None) is None


async def test_late_callresult_is_dropped_not_matched_to_next_call(csms: Csms) -> None:
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    first = asyncio.create_task(csms.command("CP1", "Reset", {"type": "Soft"}, timeout=0.5))
    call1 = await raw.recv()
    assert call1[2] == "Reset"
    response = await first
    assert response.status_code == 504, response.text
    # The answer arrives too late.
    await raw.send([3, call1[1], {"status": "Rejected"}])

    second = asyncio.create_task(csms.command("CP1", "Reset", {"type": "Hard"}))
    call2 = await raw.recv()
    assert call2[1] != call1[1]
    assert call2[3] == {"type": "Hard"}
    await asyncio.sleep(0.2)
    assert not second.done()  # the late Rejected did not answer it
    await raw.send([3, call2[1], {"status": "Accepted"}])
    response = await second
    assert response.status_code == 200 and response.json() == {"status": "Accepted"}
    await raw.close()


async def test_one_outstanding_call_and_station_calls_meanwhile(csms: Csms) -> None:
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    first = asyncio.create_task(csms.command("CP1", "ClearCache", {}))
    second = asyncio.create_task(csms.command("CP1", "Reset", {"type": "Soft"}))
    call1 = await raw.recv()
    # While our first CALL is unanswered, no second CALL is sent (OCPP-J §4.1.1)...
    await raw.expect_silence(0.5)
    # ...and the station's own CALLs are still answered.
    beat = await raw.call("hb-1", "Heartbeat", {})
    assert beat[0] == 3 and beat[1] == "hb-1"
    await raw.send([3, call1[1], {"status": "Accepted"}])
    call2 = await raw.recv()
    assert {call1[2], call2[2]} == {"ClearCache", "Reset"}
    await raw.send([3, call2[1], {"status": "Accepted"}])
    assert (await first).status_code == 200
    assert (await second).status_code == 200
    await raw.close()


async def test_disconnect_during_a_call_answers_409_at_once(csms: Csms) -> None:
    await csms.add_station("CP1")
    raw = await RawStation.open(csms.url("CP1"))
    task = asyncio.create_task(csms.command("CP1", "ClearCache", {}, timeout=30))
    await raw.recv()
    await raw.close()
    response = await asyncio.wait_for(task, 5)  # not after the 30 s timeout
    assert response.status_code == 409, response.text
    station = (await csms.api.get("/stations/CP1")).json()
    assert station["connected"] is False
