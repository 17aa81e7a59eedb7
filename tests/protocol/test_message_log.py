"""The message log stores a station's CALL and our answer as one row and lists it as two frames;
a CALL that is never answered, refused frames and our own calls are still logged, one row each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import Csms
from tests.protocol.raw import RawStation
from tests.support.poll import eventually
from watthub.domain.registry import HANDLERS
from watthub.storage.tables import message_log


@pytest.fixture
async def raw(csms: Csms) -> RawStation:
    await csms.add_station("CP1")
    station = await RawStation.open(csms.url("CP1"))
    yield station
    await station.close()


async def _entries(csms: Csms, **params: Any) -> list[dict[str, Any]]:
    response = await csms.api.get("/stations/CP1/messages", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _logged(csms: Csms, count: int, **params: Any) -> list[dict[str, Any]]:
    """The log once it holds ``count`` entries (it is written behind the answers)."""
    return await eventually(lambda: _entries(csms, **params), lambda e: len(e) >= count)  # type: ignore[no-any-return]


async def _rows(csms: Csms) -> list[dict[str, Any]]:
    async with csms.hub.services.engine.connect() as conn:
        result = await conn.execute(select(message_log).order_by(message_log.c.id))
        return [dict(r._mapping) for r in result]


async def test_an_exchange_is_one_row_listed_as_two_frames(csms: Csms, raw: RawStation) -> None:
    answer = await raw.call("hb-1", "Heartbeat", {})
    entries = await _logged(csms, 2)
    assert [(e["direction"], e["messageType"], e["action"], e["messageId"]) for e in entries] == [
        ("out", 3, "Heartbeat", "hb-1"),
        ("in", 2, "Heartbeat", "hb-1"),
    ]
    assert entries[0]["frame"] == answer
    assert entries[1]["frame"] == [2, "hb-1", "Heartbeat", {}]
    assert entries[0]["id"] == entries[1]["id"] + 1
    assert entries[0]["createdAt"] >= entries[1]["createdAt"]
    rows = await _rows(csms)
    assert len(rows) == 1
    assert rows[0]["direction"] == "in" and rows[0]["answer_type"] == 3
    assert rows[0]["answer_delay_us"] >= 0


async def test_callerror_answers_are_logged_with_their_call(csms: Csms, raw: RawStation) -> None:
    answer = await raw.call("x-1", "NoSuchAction", {})
    assert answer[:3] == [4, "x-1", "NotImplemented"]
    entries = await _logged(csms, 2)
    assert [(e["direction"], e["messageType"], e["messageId"]) for e in entries[:2]] == [
        ("out", 4, "x-1"),
        ("in", 2, "x-1"),
    ]
    assert entries[0]["frame"] == answer
    outgoing = await _entries(csms, direction="out")
    assert [e["messageId"] for e in outgoing] == ["x-1"]
    incoming = await _entries(csms, direction="in", action="NoSuchAction")
    assert [(e["messageType"], e["messageId"]) for e in incoming] == [(2, "x-1")]


async def test_a_call_is_logged_when_the_connection_drops_before_the_answer(
    csms: Csms, raw: RawStation, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    original = HANDLERS["Heartbeat"]

    async def slow(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await release.wait()
        return await original(ctx, payload)  # type: ignore[no-any-return]

    monkeypatch.setitem(HANDLERS, "Heartbeat", slow)
    await raw.send([2, "gone-1", "Heartbeat", {}])
    await raw.send([2, "gone-2", "Heartbeat", {}])  # queued behind the first, never handled yet
    await asyncio.wait_for(started.wait(), 5)
    await raw.close()
    await asyncio.sleep(0.2)
    release.set()
    entries = await _logged(csms, 4)
    calls = [e for e in entries if e["direction"] == "in"]
    assert sorted(e["messageId"] for e in calls) == ["gone-1", "gone-2"]
    assert all(e["messageType"] == 2 and e["action"] == "Heartbeat" for e in calls)


async def test_refused_frames_keep_their_rows(csms: Csms, raw: RawStation) -> None:
    await raw.send_raw('[2, "bad-1", "Heartbeat", {')  # unparseable, with a readable id
    answer = await raw.recv()
    assert answer[:3] == [4, "bad-1", "FormationViolation"]
    await raw.send_raw("not json at all")
    await raw.send_raw("[9, 1]")  # an unknown message type
    await raw.alive("ok-1")
    entries = await _logged(csms, 6)
    assert [(e["direction"], e["messageType"], e["messageId"]) for e in entries] == [
        ("out", 3, "ok-1"),
        ("in", 2, "ok-1"),
        ("in", 0, None),
        ("in", 0, None),
        ("out", 4, "bad-1"),
        ("in", 0, "bad-1"),
    ]


async def test_the_authorization_key_in_a_station_call_is_redacted(
    csms: Csms, raw: RawStation
) -> None:
    # A station has no business sending ChangeConfiguration; it is refused, but logged redacted.
    payload = {"key": "AuthorizationKey", "value": "0123456789abcdef"}
    answer = await raw.call("cc-1", "ChangeConfiguration", payload)
    assert answer[0] == 4
    entries = await _logged(csms, 2, action="ChangeConfiguration")
    call = next(e for e in entries if e["direction"] == "in")
    assert call["frame"][3] == {"key": "AuthorizationKey", "value": "***redacted***"}
    rows = await _rows(csms)
    assert "0123456789abcdef" not in str(rows)


async def test_a_nul_byte_in_a_call_is_stored(csms: Csms, raw: RawStation) -> None:
    answer = await raw.call("nul-1", "DataTransfer", {"vendorId": "v", "data": "a\x00b"})
    assert answer[0] in (3, 4)
    entries = await _logged(csms, 2)
    assert entries[1]["messageId"] == "nul-1"
    assert entries[1]["frame"][3]["data"] == "a\x00b"  # escaped in JSON, stored as sent


async def test_paging_across_exchange_rows(csms: Csms, raw: RawStation) -> None:
    for n in range(7):
        await raw.call(f"p-{n}", "Heartbeat", {})
    await raw.send_raw("junk")  # a single-frame row between exchange rows
    await raw.call("p-7", "Heartbeat", {})
    everything = await _logged(csms, 17)
    assert len(everything) == 17
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    for size in (1, 2, 3, 5):
        # Backwards with beforeId, as a client pages through history.
        pages: list[dict[str, Any]] = []
        before: int | None = None
        while True:
            params: dict[str, Any] = {"limit": size}
            if before is not None:
                params["beforeId"] = before
            page = await _entries(csms, **params)
            pages += page
            if len(page) < size:
                break
            before = page[-1]["id"]
        assert pages == everything, size
        # Forwards with afterId, as the console polls: every entry once, from any start.
        for start in range(len(everything)):
            after = everything[start]["id"]
            newer = await _entries(csms, afterId=after, limit=500)
            assert newer == everything[:start], (size, start)
        newest_first = await _entries(csms, afterId=ids[-1] - 1, limit=size)
        assert newest_first == everything[:size]
    outgoing = await _entries(csms, direction="out", limit=3)
    assert [e["messageId"] for e in outgoing] == ["p-7", "p-6", "p-5"]
    later = await _entries(csms, direction="out", limit=3, beforeId=outgoing[-1]["id"])
    assert [e["messageId"] for e in later] == ["p-4", "p-3", "p-2"]


async def test_our_calls_and_their_answers_are_rows_of_their_own(
    csms: Csms, raw: RawStation
) -> None:
    await raw.boot()
    reply = asyncio.create_task(csms.api.post("/stations/CP1/clear-cache", json={}, timeout=10))
    call = await raw.recv()
    assert call[0] == 2 and call[2] == "ClearCache"
    await raw.send([3, call[1], {"status": "Accepted"}])
    assert (await reply).status_code == 200, (await reply).text
    entries = await _logged(csms, 2, action="ClearCache")
    assert [(e["direction"], e["messageType"]) for e in entries] == [("in", 3), ("out", 2)]
    async with csms.hub.services.engine.connect() as conn:
        count = await conn.execute(select(func.count()).where(message_log.c.action == "ClearCache"))
        assert count.scalar() == 2
