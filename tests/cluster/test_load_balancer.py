"""The HAProxy layout of docs/cluster.md, run as written (node addresses replaced by the test's):
stations and API requests through one balancer, no sticky sessions, failover on kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.nodes import LEASE
from tests.conftest import CI
from tests.support.chargepoint import TestChargePoint, open_station_socket
from tests.support.poll import eventually
from tests.support.processes import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "cluster.md"


def haproxy_config(replace: dict[str, int]) -> str:
    block = re.search(r"```haproxy\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/cluster.md lost its HAProxy layout"
    text = block.group(1)
    for old, new in replace.items():
        text = re.sub(rf"127\.0\.0\.1:{old}\b", f"127.0.0.1:{new}", text)
        text = re.sub(rf"\bport {old}\b", f"port {new}", text)
    return text


async def test_the_documented_haproxy_layout(fresh: Any, tmp_path: Path) -> None:
    binary = shutil.which("haproxy")
    if binary is None:
        if CI:
            pytest.fail("haproxy is not installed (.ci/run installs it), and CI must not skip")
        pytest.skip("haproxy is not installed")
    cluster = await asyncio.to_thread(fresh)
    await asyncio.to_thread(cluster.start, "A", "B")
    a, b = cluster["A"], cluster["B"]
    lb_ocpp, lb_api = free_port(), free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        haproxy_config(
            {
                "19000": lb_ocpp,
                "18000": lb_api,
                "9001": a.ocpp_port,
                "9002": b.ocpp_port,
                "8001": a.api_port,
                "8002": b.api_port,
            }
        )
    )
    proxy = await asyncio.create_subprocess_exec(
        binary, "-f", str(config), "-db", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    api_url = f"http://127.0.0.1:{lb_api}/api/v1"
    headers = {"Authorization": f"Bearer {cluster.token}"}

    async def via_lb(method: str, path: str, **kwargs: Any) -> httpx.Response:
        # A new connection per request: round robin spreads them over the nodes.
        async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as api:
            return await api.request(method, path, **kwargs)

    sockets: list[Any] = []
    try:

        async def nodes() -> set[str]:
            seen = set()
            for _ in range(6):
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    seen.add((await via_lb("GET", "/health")).json()["node"])
            return seen

        assert await eventually(nodes, lambda s: s == {"A", "B"}, timeout=20)
        stations = []
        for i in range(4):
            station_id = f"LB-{i}"
            assert (await via_lb("POST", "/stations", json={"id": station_id})).status_code == 201
            ws = await open_station_socket(f"ws://127.0.0.1:{lb_ocpp}/ocpp/{station_id}")
            cp = TestChargePoint(station_id, ws)
            sockets.append((ws, asyncio.create_task(cp.start())))
            assert (await cp.booted()).status == "Accepted"
            stations.append(cp)
        for cp in stations:
            for _ in range(2):  # one request lands on each node
                response = await via_lb("POST", f"/stations/{cp.id}/ocpp/ClearCache", json={})
                assert response.status_code == 200, response.text
            assert len(cp.sent("ClearCache")) == 2

        # Failover: kill -9 node A; its stations reconnect through the balancer to B.
        cluster["A"].kill()
        for ws, _task in sockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.wait_closed(), 0.2)

        async def reconnect(station_id: str) -> TestChargePoint | None:
            with contextlib.suppress(Exception):
                ws = await open_station_socket(f"ws://127.0.0.1:{lb_ocpp}/ocpp/{station_id}")
                cp = TestChargePoint(station_id, ws)
                sockets.append((ws, asyncio.create_task(cp.start())))
                if (await cp.booted()).status == "Accepted":
                    return cp
            return None

        for old in stations:
            if old._connection.state.name != "OPEN":  # the ones that were on A
                cp = await eventually(lambda i=old.id: reconnect(i), bool, timeout=10 + LEASE)
                stations[stations.index(old)] = cp

        async def command(station_id: str) -> int:
            with contextlib.suppress(httpx.HTTPError):
                response = await via_lb("POST", f"/stations/{station_id}/ocpp/ClearCache", json={})
                return response.status_code
            return 0

        for cp in stations:
            assert await eventually(lambda i=cp.id: command(i), lambda s: s == 200, timeout=15)
    finally:
        for ws, task in sockets:
            task.cancel()
            with contextlib.suppress(BaseException):
                await ws.close()
        proxy.kill()
        await proxy.wait()
