"""Three WattHub nodes (processes) on one PostgreSQL and one Redis: commands, duplicate identity,
cache invalidation, station settings and once-only work across nodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.cluster.nodes import CALL_TIMEOUT, Cluster, becomes_connected_on
from tests.support.poll import eventually
from watthub.cluster.routing import ROUTING_MARGIN


@pytest_asyncio.fixture
async def cluster(three: Cluster) -> AsyncIterator[Cluster]:
    try:
        yield three
    finally:
        await three.close_stations()


async def test_command_reaches_the_station_on_another_node(cluster: Cluster) -> None:
    cp = await cluster.station("X-CMD", "A")
    cp.answers["ChangeConfiguration"] = {"status": "RebootRequired"}
    async with cluster.api("B") as b, cluster.api("C") as c:
        assert await becomes_connected_on(b, "X-CMD") and await becomes_connected_on(c, "X-CMD")
        response = await b.post(
            "/stations/X-CMD/ocpp/ChangeConfiguration",
            json={"key": "HeartbeatInterval", "value": "60"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "RebootRequired"}
        assert cp.sent("ChangeConfiguration") == [{"key": "HeartbeatInterval", "value": "60"}]

        # Connected nowhere: 409, as on one node.
        assert (await c.post("/stations", json={"id": "X-NOWHERE"})).status_code == 201
        response = await c.post("/stations/X-NOWHERE/ocpp/ClearCache", json={})
        assert response.status_code == 409, response.text

        # The station does not answer in time: 504, after the timeout and never much later.
        async def silent(_payload: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(CALL_TIMEOUT + 2)
            return {"status": "Accepted"}

        cp.answers["ClearCache"] = silent
        started = time.monotonic()
        response = await c.post("/stations/X-CMD/ocpp/ClearCache", json={})
        elapsed = time.monotonic() - started
        assert response.status_code == 504, response.text
        assert CALL_TIMEOUT - 0.5 <= elapsed <= CALL_TIMEOUT + ROUTING_MARGIN + 1


async def test_one_outstanding_call_per_station_cluster_wide(cluster: Cluster) -> None:
    cp = await cluster.station("X-ONE", "A")
    in_flight = 0
    most = 0

    async def slow(payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.2)
        in_flight -= 1
        return {"status": "Accepted", "data": payload.get("data")}

    cp.answers["DataTransfer"] = slow
    async with cluster.api("A") as a, cluster.api("B") as b, cluster.api("C") as c:
        requests = [
            api.post("/stations/X-ONE/ocpp/DataTransfer", json={"vendorId": "t", "data": str(i)})
            for i, api in enumerate([a, b, c, b, c])
        ]
        answers = await asyncio.gather(*requests)
    assert [r.status_code for r in answers] == [200] * 5
    assert sorted(r.json()["data"] for r in answers) == ["0", "1", "2", "3", "4"]
    assert most == 1  # the station never had two of our CALLs outstanding


async def test_duplicate_identity_newer_connection_wins_across_nodes(cluster: Cluster) -> None:
    old = await cluster.station("X-DUP", "A")
    old_ws = cluster.stations[-1][0]
    new = await cluster.station("X-DUP", "B", boot=False)
    # Node A closes the old socket because B took the station.
    await asyncio.wait_for(old_ws.wait_closed(), 5)
    assert old_ws.close_reason == "replaced by a new connection"
    async with cluster.api("C") as c:
        response = await c.post("/stations/X-DUP/ocpp/ClearCache", json={})
        assert response.status_code == 200, response.text
    assert new.sent("ClearCache") == [{}]
    assert old.sent("ClearCache") == []
    # The old socket's disconnect must not release the new connection's claim, nor clear the
    # connection B recorded in the database (the console's online/offline comes from there).
    await asyncio.sleep(0.5)
    async with cluster.api("A") as a:
        assert await becomes_connected_on(a, "X-DUP")
        station = (await a.get("/stations/X-DUP")).json()
        assert station["connectedNode"] == "B", station


async def test_id_tag_change_on_one_node_applies_at_once_on_another(cluster: Cluster) -> None:
    cp = await cluster.station("X-TAG", "A")
    async with cluster.api("A") as a, cluster.api("B") as b:
        assert (await a.put("/id-tags/TAG-CL", json={"status": "Accepted"})).status_code == 200
        assert (await cp.authorize("TAG-CL")).id_tag_info["status"] == "Accepted"  # cached on A
        assert (await b.put("/id-tags/TAG-CL", json={"status": "Blocked"})).status_code == 200

    # The tag cache lives 30 s; only the relayed invalidation makes A see the change now.
    async def status() -> str:
        return str((await cp.authorize("TAG-CL")).id_tag_info["status"])

    assert await eventually(status, lambda s: s == "Blocked", timeout=2.0) == "Blocked"


async def test_station_settings_changed_on_one_node_reach_the_owning_node(
    cluster: Cluster,
) -> None:
    cp = await cluster.station("X-SET", "A")
    async with cluster.api("C") as c:
        response = await c.patch("/stations/X-SET", json={"heartbeatInterval": 77})
        assert response.status_code == 200, response.text

    async def interval() -> int:
        return int((await cp.boot()).interval)

    assert await eventually(interval, lambda i: i == 77, timeout=3.0) == 77


async def test_firmware_campaign_runs_once_cluster_wide(cluster: Cluster) -> None:
    """Every node runs a campaign runner; the lease lets one pass run at a time, so the
    station gets UpdateFirmware once, not once per node."""
    cp = await cluster.station("X-FW", "A")
    async with cluster.api("C") as c:
        response = await c.post(
            "/firmware-campaigns",
            json={"stations": ["X-FW"], "location": "http://example.test/fw.bin"},
        )
        assert response.status_code == 201, response.text
    await cp.wait_for("UpdateFirmware", timeout=10)
    await asyncio.sleep(5)  # a few runner ticks on every node
    assert len(cp.sent("UpdateFirmware")) == 1


@pytest.mark.parametrize("node", ["A", "B"])
async def test_each_node_answers_under_its_own_name(cluster: Cluster, node: str) -> None:
    async with cluster.api(node) as api:
        health = (await api.get("/health")).json()
    assert health["node"] == node


async def test_site_allocation_one_decision_at_a_time(cluster: Cluster) -> None:
    """Two stations of one site on different nodes start charging at once: each node
    rebalances the site (its own station's event), the site lease serialises the decisions,
    and the limits the stations hold never add up to more than the site's."""
    received: list[tuple[float, int, float]] = []  # (time, transactionId, limit), both stations

    def record(payload: dict[str, Any]) -> dict[str, Any]:
        profile = payload["csChargingProfiles"]
        limit = profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
        received.append((time.monotonic(), profile.get("transactionId", 0), float(limit)))
        return {"status": "Accepted"}

    one = await cluster.station("X-SITE-1", "A")
    two = await cluster.station("X-SITE-2", "B")
    for cp in (one, two):
        cp.answers["SetChargingProfile"] = record
    async with cluster.api("C") as c:
        assert (await c.post("/sites", json={"id": "S-CL", "limit": 32})).status_code == 201
        for station_id in ("X-SITE-1", "X-SITE-2"):
            response = await c.put(f"/sites/S-CL/stations/{station_id}")
            assert response.status_code == 200, response.text
        tag = {"status": "Accepted", "allowConcurrentTx": True}
        assert (await c.put("/id-tags/SITE", json=tag)).status_code == 200
        await asyncio.gather(one.charging("SITE"), two.charging("SITE"))

        async def limits() -> list[float]:
            allocation = (await c.get("/sites/S-CL/allocation")).json()
            return sorted(float(a["limit"]) for a in allocation["allocation"])

        assert await eventually(limits, lambda v: v == [16.0, 16.0], timeout=10) == [16.0, 16.0]
    held: dict[int, float] = {}
    for _at, tx, limit in sorted(received):
        held[tx] = limit
        assert sum(held.values()) <= 32.0, received
