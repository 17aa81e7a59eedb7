"""Observability of a cluster: routed commands, membership and Redis health in /metrics and
/health/ready, with nodes as real processes on real PostgreSQL and Redis; one metrics port per
worker under ``watthub serve --workers``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.api.test_observability import Samples, parse, value
from tests.cluster import test_faults
from tests.cluster.nodes import Cluster
from tests.support.poll import eventually
from tests.support.processes import free_port

private_redis = test_faults.private_redis  # the fixture: a redis-server this test may kill


def root(cluster: Cluster, name: str) -> str:
    return cluster[name].api_url.removesuffix("/api/v1")


async def scrape(base: str) -> Samples:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


async def ready(base: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.get("/health/ready")


async def test_routed_commands_membership_and_redis_health(fresh: Any, private_redis: Any) -> None:
    cluster = await asyncio.to_thread(fresh, redis=private_redis.url)
    await asyncio.to_thread(cluster.start, "A", "B")
    a, b = root(cluster, "A"), root(cluster, "B")
    try:
        await cluster.station("OBS-B", "B")
        async with cluster.api("A") as api:
            routed = await api.post("/stations/OBS-B/ocpp/ClearCache", json={})
            assert routed.status_code == 200, routed.text

        on_a = await eventually(
            lambda: scrape(a), lambda s: value(s, "watthub_cluster_nodes") == 2, timeout=10
        )
        assert value(on_a, "watthub_cluster_enabled") == 1
        assert value(on_a, "watthub_cluster_node", node="A") == 1
        assert value(on_a, "watthub_cluster_node", node="B") == 1
        assert value(on_a, "watthub_routed_commands_total", action="ClearCache", result="ok") == 1
        assert value(on_a, "watthub_routed_command_seconds_count", action="ClearCache") == 1
        assert value(on_a, "watthub_dependency_up", dependency="redis") == 1
        assert value(on_a, "watthub_connected_stations") == 0
        # The node holding the station sent the CALL and handled the station's messages.
        on_b = await scrape(b)
        assert value(on_b, "watthub_ocpp_calls_out_total", action="ClearCache", result="ok") == 1
        assert (
            value(on_b, "watthub_ocpp_messages_in_total", action="BootNotification", result="ok")
            == 1
        )
        assert value(on_b, "watthub_connected_stations") == 1
        body = (await ready(a)).json()
        assert body["status"] == "ready" and body["checks"]["redis"]["ok"] is True

        # Redis away: not ready (a load balancer stops sending stations), still alive.
        private_redis.kill()
        down = await eventually(lambda: ready(a), lambda r: r.status_code == 503, timeout=10)
        assert down.json()["reason"].startswith("redis: "), down.json()
        async with httpx.AsyncClient(base_url=a) as client:
            assert (await client.get("/health/live")).status_code == 200
        without = await scrape(a)
        assert value(without, "watthub_dependency_up", dependency="redis") == 0
        assert value(without, "watthub_ready") == 0

        await asyncio.to_thread(private_redis.start)
        await eventually(lambda: ready(a), lambda r: r.status_code == 200, timeout=15)
        # A node that stops leaves the membership (the restarted Redis learnt it again first).
        await eventually(lambda: scrape(a), lambda s: value(s, "watthub_cluster_nodes") == 2, 15)
        await cluster.close_stations()
        await asyncio.to_thread(cluster["B"].stop)
        gone = await eventually(
            lambda: scrape(a), lambda s: value(s, "watthub_cluster_nodes") == 1, timeout=10
        )
        assert value(gone, "watthub_cluster_node", node="B") == 0
    finally:
        await cluster.close_stations()


def two_free_ports() -> int:
    """A port p such that p and p + 1 are both free."""
    while True:
        port = free_port()
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", port + 1))
            return port


def serve_workers(env: dict[str, str], log_path: Path, workers: int) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "watthub", "serve", "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=log,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def test_each_worker_has_its_own_metrics_port(fresh: Any) -> None:
    """Under ``serve --workers 2`` the API port answers for a random worker, so worker *k*
    serves /metrics on ``metrics_port + k``: a scraper reaches every worker, each time."""
    cluster = await asyncio.to_thread(fresh)
    metrics_port = two_free_ports()
    env = {
        **os.environ,
        **cluster.env,
        "WATTHUB_NODE_NAME": "W",
        "WATTHUB_OCPP_PORT": str(free_port()),
        "WATTHUB_API_PORT": str(free_port()),
        "WATTHUB_METRICS_PORT": str(metrics_port),
    }
    proc = await asyncio.to_thread(serve_workers, env, cluster.tmp / "workers.log", 2)
    try:
        names = set()
        for k in (0, 1):
            base = f"http://127.0.0.1:{metrics_port + k}"

            async def probe(base: str = base) -> Samples:
                with contextlib.suppress(httpx.HTTPError):
                    return await scrape(base)
                return {}

            samples = await eventually(
                probe, lambda s: value(s, "watthub_cluster_nodes") == 2, timeout=60
            )
            names |= {dict(labels)["node"] for name, labels in samples if name == "watthub_info"}
            assert (await ready(base)).status_code == 200
        assert names == {"W-w0", "W-w1"}
    finally:
        await asyncio.to_thread(stop, proc)
