"""The API behind the console: overview counts, paged and filtered stations, the live event
stream (SSE), the OCPP request schemas, the message log's afterId/direction, CSV tag import."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from ocpp.v16 import call

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.api.live_feed import LiveFeed
from watthub.api.routes.console import feed_of
from watthub.domain import events
from watthub.domain.events import EventBus


async def _next_batch(lines: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        async for line in lines:
            if line.startswith("data: "):
                return orjson.loads(line[6:])  # type: ignore[no-any-return]
    raise AssertionError("stream ended")


async def test_event_stream_carries_station_events(csms: Csms, station: TestChargePoint) -> None:
    async with csms.api.stream("GET", "/events/stream", params={"stationId": "CP1"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        await station.status(1, "Faulted", "GroundFailure")
        batch = await _next_batch(lines)
        assert {"event": "status_changed", "data": {**batch[0]["data"]}} == batch[0]
        data = batch[0]["data"]
        assert (data["station_id"], data["connector_id"], data["status"], data["error_code"]) == (
            "CP1",
            1,
            "Faulted",
            "GroundFailure",
        )
        await csms.add_tag("TAG1")
        tx = await station.charging("TAG1")
        await station.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": "2026-01-01T00:00:00Z",
                        "sampledValue": [
                            {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"}
                        ],
                    }
                ],
            )
        )
        seen: list[dict[str, Any]] = []
        while not any(e["event"] == "meter_values" for e in seen):
            seen += await _next_batch(lines)
        meter = next(e["data"] for e in seen if e["event"] == "meter_values")
        assert meter["transaction_id"] == tx
        assert meter["meter_value"][0]["sampledValue"][0]["value"] == "7000"
        assert "transaction_started" in {e["event"] for e in seen}


async def test_event_stream_needs_authentication(csms: Csms) -> None:
    response = await csms.api.get("/events/stream", headers={"Authorization": ""})
    assert response.status_code == 401


async def test_feed_coalesces_statuses_and_resyncs_a_slow_client() -> None:
    bus = EventBus()
    feed = LiveFeed(bus, batch_seconds=0.05, max_pending=5)
    stream = feed.stream()
    assert (await anext(stream)).startswith(b"retry:")
    for status in ("Preparing", "Charging", "Finishing"):
        bus.emit(events.STATUS_CHANGED, station_id="CP1", connector_id=1, status=status)
    bus.emit(events.STATION_BOOTED, station_id="CP2", status="Accepted")
    await bus.drain()
    chunk = await anext(stream)
    batch = orjson.loads(chunk.removeprefix(b"data: "))
    # Only the latest status of the connector; the other event kept.
    assert [(e["event"], e["data"]["status"]) for e in batch] == [
        ("status_changed", "Finishing"),
        ("station_booted", "Accepted"),
    ]
    for n in range(20):  # more than the client's queue holds
        bus.emit(events.STATION_BOOTED, station_id=f"CP{n}", status="Accepted")
    await bus.drain()
    assert await anext(stream) == b"event: resync\ndata: {}\n\n"
    await stream.aclose()
    assert not feed.clients


async def test_overview_counts_and_energy_today(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_station("CP2")  # registered, never connected
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    await station.stop_transaction(tx, meter_stop=4200)
    tx2 = await station.charging("TAG1")
    await station.status(1, "Faulted", "GroundFailure")
    answer = (await csms.api.get("/overview")).json()
    assert answer["stations"] == {
        "total": 2,
        "online": 1,
        "offline": 1,
        "faulted": 1,
        "charging": 0,
        "chargingConnectors": 0,
    }
    assert answer["activeTransactions"] == 1
    assert answer["energyTodayWh"] == 4200.0
    kinds = {(e["kind"], e["stationId"]) for e in answer["recentEvents"]}
    assert ("boot", "CP1") in kinds and ("fault", "CP1") in kinds
    assert tx2 != tx


async def test_stations_search_filter_and_paging(csms: Csms, station: TestChargePoint) -> None:
    for n in range(2, 8):
        await csms.add_station(f"CP{n}", description="garage" if n % 2 else "street")
    page = await csms.api.get("/stations", params={"limit": 3, "offset": 0})
    assert page.headers["X-Total-Count"] == "7"
    assert [s["id"] for s in page.json()] == ["CP1", "CP2", "CP3"]
    assert page.json()[0]["connectors"][0]["status"] == "Available"
    garage = await csms.api.get("/stations", params={"q": "GARAGE"})
    assert [s["id"] for s in garage.json()] == ["CP3", "CP5", "CP7"]
    online = await csms.api.get("/stations", params={"state": "online"})
    assert [s["id"] for s in online.json()] == ["CP1"]
    offline = await csms.api.get("/stations", params={"state": "offline", "limit": 2, "offset": 4})
    assert offline.headers["X-Total-Count"] == "6"
    assert [s["id"] for s in offline.json()] == ["CP6", "CP7"]
    wrong = await csms.api.get("/stations", params={"state": "sleeping"})
    assert wrong.status_code == 422


async def test_command_schemas(csms: Csms) -> None:
    actions = (await csms.api.get("/ocpp/schemas")).json()
    assert "RemoteStartTransaction" in actions and "BootNotification" not in actions
    assert len(actions) == 26
    schema = (await csms.api.get("/ocpp/schemas/ChangeConfiguration")).json()
    assert schema["required"] == ["key", "value"]
    refused = await csms.api.get("/ocpp/schemas/BootNotification")
    assert refused.status_code == 404


async def test_message_log_after_id_and_direction(csms: Csms, station: TestChargePoint) -> None:
    await asyncio.sleep(0.3)  # the log is written behind the answers
    entries = (await csms.api.get("/stations/CP1/messages")).json()
    newest = entries[0]["id"]
    await station.call(call.Heartbeat())
    await asyncio.sleep(0.3)
    newer = (await csms.api.get("/stations/CP1/messages", params={"afterId": newest})).json()
    assert [(e["direction"], e["action"]) for e in newer] == [
        ("out", "Heartbeat"),
        ("in", "Heartbeat"),
    ]
    incoming = (await csms.api.get("/stations/CP1/messages", params={"direction": "in"})).json()
    assert incoming and {e["direction"] for e in incoming} == {"in"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("idTag,status\nGOOD,Accepted\nBAD,Maybe\n", "line 3: unknown status Maybe"),
        ("idTag,status\n,Accepted\n", "line 2: idTag must have 1 to 20 characters"),
        ("idTag,expiryDate\nT1,tomorrow\n", "line 2: bad expiryDate"),
    ],
)
async def test_id_tag_csv_import_is_all_or_nothing(csms: Csms, body: str, problem: str) -> None:
    refused = await csms.api.post(
        "/id-tags/import", content=body, headers={"Content-Type": "text/csv"}
    )
    assert refused.status_code == 422
    assert problem in refused.json()["detail"]
    assert (await csms.api.get("/id-tags")).json() == []
    good = "idTag,status,expiryDate,parentIdTag\nT1,Accepted,2030-01-01T00:00:00Z,FLEET\nT2,Blocked,,\n"
    done = await csms.api.post("/id-tags/import", content=good)
    assert done.json() == {"imported": 2}
    tags = {t["idTag"]: t for t in (await csms.api.get("/id-tags")).json()}
    assert tags["T1"]["parentIdTag"] == "FLEET" and tags["T2"]["status"] == "Blocked"


async def test_console_is_served_at_the_root_with_a_strict_policy(csms: Csms) -> None:
    root = csms.api_base.removesuffix("/api/v1")
    async with httpx.AsyncClient(base_url=root) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert '<script type="module" src="/js/app.js">' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        script = await client.get("/js/pages/station.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        # The API keeps its own answers: unauthenticated API calls are JSON 401, not the page.
        assert (await client.get("/api/v1/overview")).status_code == 401
        assert (await client.get("/nope.js")).status_code == 404


async def test_event_stream_ends_when_the_session_ends(csms: Csms) -> None:
    await csms.api.post(
        "/users", json={"username": "olivia", "password": "pw-olivia-1", "role": "viewer"}
    )
    feed = feed_of_app(csms)
    feed.keepalive_seconds = 1.0
    async with httpx.AsyncClient(base_url=csms.api_base, timeout=10) as browser:
        login = await browser.post(
            "/auth/login", json={"username": "olivia", "password": "pw-olivia-1"}
        )
        assert login.status_code == 200
        async with browser.stream("GET", "/events/stream") as stream:
            lines = stream.aiter_lines()
            async with asyncio.timeout(5):
                assert (await anext(lines)).startswith("retry:")
            # An admin disables the account: the open stream says so and ends at its next check.
            out = await csms.api.patch("/users/olivia", json={"disabled": True})
            assert out.status_code == 200, out.text
            seen = []
            async with asyncio.timeout(8):
                async for line in lines:
                    seen.append(line)
            assert "event: unauthorized" in seen


def feed_of_app(csms: Csms) -> LiveFeed:
    """The API's feed (created on first use, as the first browser would)."""
    from fastapi import FastAPI

    app: FastAPI = csms.hub._api_server.config.app  # type: ignore[union-attr]
    request = type("R", (), {"app": app})()
    return feed_of(request)  # type: ignore[arg-type]


async def test_feed_forwards_only_the_listed_events() -> None:
    bus = EventBus()
    feed = LiveFeed(bus, batch_seconds=0.01)
    stream = feed.stream()
    await anext(stream)
    bus.emit("password_rotated", station_id="CP1", password="s3cret")  # not for browsers
    bus.emit(events.STATION_CONNECTED, station_id="CP1")
    await bus.drain()
    batch = orjson.loads((await anext(stream)).removeprefix(b"data: "))
    assert batch == [{"event": "station_connected", "data": {"station_id": "CP1"}}]
    await stream.aclose()
