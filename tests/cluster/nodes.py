"""Cluster test harness: WattHub nodes as real ``watthub serve`` processes sharing PostgreSQL and
Redis (a unique key prefix per test run), stations as ``TestChargePoint`` on a chosen node."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.chargepoint import TestChargePoint, open_station_socket
from tests.support.poll import eventually
from tests.support.processes import free_port

LEASE = 1.5  # seconds: short, so that takeovers are quick to test
CALL_TIMEOUT = 3.0


@dataclass
class Node:
    name: str
    env: dict[str, str]
    log_path: Path
    ocpp_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ocpp(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api/v1"

    def start(self) -> None:
        env = {
            **os.environ,
            **self.env,
            "WATTHUB_NODE_NAME": self.name,
            "WATTHUB_OCPP_PORT": str(self.ocpp_port),
            "WATTHUB_API_PORT": str(self.api_port),
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watthub", "serve"], env=env, stdout=log, stderr=log
        )
        log.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"node {self.name} did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """kill -9: no goodbye, no lease release."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_ready()


class Cluster:
    def __init__(self, tmp: Path, database_url: str, redis_url: str, token: str) -> None:
        self.tmp = tmp
        self.prefix = f"watthub-test-{uuid.uuid4().hex[:10]}"
        self.token = token
        self.env = {
            "WATTHUB_DATABASE_URL": database_url,
            "WATTHUB_REDIS_URL": redis_url,
            "WATTHUB_CLUSTER_PREFIX": self.prefix,
            "WATTHUB_CLUSTER_LEASE": str(LEASE),
            "WATTHUB_CALL_TIMEOUT": str(CALL_TIMEOUT),
            "WATTHUB_PING_INTERVAL": "0",
            "WATTHUB_DATA_DIR": str(tmp / "data"),
            "WATTHUB_LOG_LEVEL": "INFO",
        }
        self.nodes: dict[str, Node] = {}
        self.stations: list[tuple[Any, asyncio.Task[Any]]] = []

    def database_via(self, port: int) -> None:
        """Reach PostgreSQL through 127.0.0.1:``port`` (a proxy the test can cut)."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.env["WATTHUB_DATABASE_URL"])
        user = f"{parts.username}@" if parts.username else ""
        netloc = f"{user}127.0.0.1:{port}"
        self.env["WATTHUB_DATABASE_URL"] = urlunsplit(parts._replace(netloc=netloc))

    def start(self, *names: str, **env: str) -> list[Node]:
        started = []
        for name in names:
            node = Node(name, {**self.env, **env}, self.tmp / f"{name}.log")
            node.start()
            self.nodes[name] = node
            started.append(node)
        for node in started:
            for attempt in range(3):
                try:
                    node.wait_ready()
                    break
                except RuntimeError:
                    # free_port() closes its probe socket, so a parallel test may take the port
                    # before the node binds it: pick new ports and start again.
                    if attempt == 2 or "address already in use" not in node.log_path.read_text():
                        raise
                    node.ocpp_port, node.api_port = free_port(), free_port()
                    node.start()
        return started

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def api(self, name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.nodes[name].api_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    async def station(self, station_id: str, node: str, *, boot: bool = True) -> TestChargePoint:
        """Register ``station_id`` (if needed) and connect it to ``node``."""
        async with self.api(node) as api:
            if (await api.get(f"/stations/{station_id}")).status_code == 404:
                assert (await api.post("/stations", json={"id": station_id})).status_code == 201
        ws = await open_station_socket(f"{self.nodes[node].ocpp}/{station_id}")
        cp = TestChargePoint(station_id, ws)
        task = asyncio.create_task(cp.start())
        self.stations.append((ws, task))
        if boot:
            assert (await cp.booted()).status == "Accepted"
        return cp

    async def close_stations(self) -> None:
        for ws, task in self.stations:
            task.cancel()
            with contextlib.suppress(BaseException):
                await ws.close()
            with contextlib.suppress(BaseException):
                await task
        self.stations.clear()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {n.name}\n{n.log_path.read_text()[-4000:]}" for n in self.nodes.values()
        )


async def connected_on(api: httpx.AsyncClient, station_id: str) -> bool:
    return bool((await api.get(f"/stations/{station_id}")).json()["connected"])


async def becomes_connected_on(api: httpx.AsyncClient, station_id: str, timeout: float = 5) -> bool:
    """The owning node records its claim in Redis just after the handshake: another node sees
    the station a moment later (on a busy machine, up to a few seconds)."""
    return bool(
        await eventually(lambda: connected_on(api, station_id), lambda c: c, timeout=timeout)
    )
