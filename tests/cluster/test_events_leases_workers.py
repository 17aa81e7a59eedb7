"""Event fan-out, the once-only lease interface and the refusals of ``--workers``; three nodes in
this process (the listeners are Python callables, so they must live where the test can see them)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from tests.conftest import (
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    _bound_socket,
    clean_redis,
    database_url,
    require_service,
)
from tests.support.chargepoint import TestChargePoint, open_station_socket
from tests.support.poll import eventually
from tests.support.processes import free_port
from watthub.app import WattHub
from watthub.config import Settings
from watthub.domain import events
from watthub.storage import db, stations_repo, tokens_repo
from watthub.timeutil import utcnow


@pytest_asyncio.fixture
async def hubs(tmp_path: Path, tmp_path_factory: Any) -> AsyncIterator[list[WattHub]]:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    url = await database_url("postgres", tmp_path, tmp_path_factory)
    prefix = f"watthub-test-{uuid.uuid4().hex[:10]}"
    started: list[WattHub] = []
    try:
        for name in "ABC":
            hub = WattHub(
                Settings(
                    database_url=url,
                    redis_url=REDIS_URL,
                    cluster_prefix=prefix,
                    node_name=name,
                    data_dir=tmp_path / "data",
                    ping_interval=None,
                    ocpp_port=0,
                    api_port=0,
                )
            )
            await hub.start(ocpp_sock=_bound_socket(), api_sock=_bound_socket())
            started.append(hub)
        yield started
    finally:
        for hub in reversed(started):
            # In a task of its own, bounded: a hang here must fail the test, not stall it.
            await asyncio.wait_for(hub.stop(), 30)
        await clean_redis(prefix)


async def _station(hub: WattHub, station_id: str) -> TestChargePoint:
    async with hub.services.engine.begin() as conn:
        await stations_repo.create_station(conn, station_id)
    ws = await open_station_socket(f"ws://127.0.0.1:{hub.ocpp.port}/ocpp/{station_id}")
    cp = TestChargePoint(station_id, ws)
    asyncio.create_task(cp.start())  # noqa: RUF006 - ends with the socket at hub.stop
    return cp


async def test_events_fan_out_to_observers_on_every_node(hubs: list[WattHub]) -> None:
    a, b, c = hubs
    seen: dict[str, list[tuple[str, dict[str, Any]]]] = {"B": [], "C": []}
    actors: list[str] = []
    observed: list[str] = []

    for name, hub in (("B", b), ("C", c)):

        async def every(event: str, data: dict[str, Any], name: str = name) -> None:
            seen[name].append((event, data))

        hub.services.events.subscribe_all(every)

    async def actor(station_id: str, **_: Any) -> None:
        actors.append(station_id)

    async def observer(station_id: str, **_: Any) -> None:
        observed.append(station_id)

    # On C: an acting listener (runs where the event happens only) and an observer.
    c.services.events.subscribe(events.STATION_BOOTED, actor)
    c.services.events.subscribe(events.STATION_BOOTED, observer, everywhere=True)

    cp = await _station(a, "E-1")
    assert (await cp.booted()).status == "Accepted"

    def booted(name: str) -> list[dict[str, Any]]:
        return [d for e, d in seen[name] if e == events.STATION_BOOTED]

    async def both() -> bool:
        return bool(booted("B") and booted("C"))

    await eventually(both, bool, timeout=3)
    for name in "BC":
        names = [e for e, _ in seen[name]]
        assert names.index(events.STATION_CONNECTED) < names.index(events.STATION_BOOTED)
        assert booted(name)[0]["station_id"] == "E-1"
    await eventually(lambda: asyncio.sleep(0, observed), bool, timeout=3)
    assert observed == ["E-1"]
    assert actors == []  # C must not act on A's station: A's own listeners do


async def test_events_leave_a_node_only_while_another_node_observes(hubs: list[WattHub]) -> None:
    """No observer anywhere (no console open): station events stay on their node, nothing goes
    through Redis. A console feed opening on B makes A relay at once; closing it stops that."""
    a, b, _c = hubs
    node_a = a.cluster.node  # type: ignore[union-attr]

    async def relaying() -> bool:
        return a.services.events.relay is not None

    assert not await eventually(relaying, lambda r: not r, timeout=5)
    published: list[int] = []
    real_publish = node_a.redis.publish

    async def counting(channel: Any, body: Any) -> Any:
        published.append(len(body))
        return await real_publish(channel, body)

    node_a.redis.publish = counting  # type: ignore[method-assign]
    for n in range(20):
        a.services.events.emit(events.STATUS_CHANGED, station_id="Q", connector_id=1, status=n)
    await asyncio.sleep(0.2)
    assert published == []

    seen: list[Any] = []

    def observer(event: str, data: dict[str, Any]) -> None:
        seen.append(data.get("status"))

    b.services.events.subscribe_all(observer)
    assert await eventually(relaying, bool, timeout=3)
    for n in range(20):  # one loop iteration: one PUBLISH for the lot
        a.services.events.emit(events.STATUS_CHANGED, station_id="Q", connector_id=1, status=n)
    await eventually(lambda: asyncio.sleep(0, len(seen)), lambda n: n == 20, timeout=3)
    assert seen == list(range(20))
    assert len(published) == 1
    b.services.events.unsubscribe_all(observer)
    assert not await eventually(relaying, lambda r: not r, timeout=3)


async def test_old_node_disconnect_leaves_the_newer_connection_recorded(
    hubs: list[WattHub],
) -> None:
    """A station moved from A to B: A's disconnect, even when its write commits after B's
    connect, leaves B's connection in the database (online in the console, on node B)."""
    a = hubs[0]
    cp = await _station(a, "E-MOVED")
    assert (await cp.booted()).status == "Accepted"

    async def nothing(_conn: Any) -> None:
        return None

    await a.services.writer.run(nothing)  # A's connect is committed
    async with a.services.engine.begin() as conn:  # B's connect, committed first
        await conn.execute(
            stations_repo.MARK_CONNECTED,
            {"sid": "E-MOVED", "since": utcnow(), "node": "B", "seen": utcnow()},
        )
    await cp._connection.close()
    await eventually(lambda: asyncio.sleep(0, a.registry.get("E-MOVED")), lambda s: s is None)
    await a.services.writer.run(nothing)  # A's disconnect is committed too
    async with a.services.engine.connect() as conn:
        row = await stations_repo.get_station(conn, "E-MOVED")
    assert row is not None
    assert (row["connected_node"], row["connected_since"] is not None) == ("B", True)


async def test_lease_interface_once_cluster_wide(hubs: list[WattHub]) -> None:
    a, b, c = hubs
    order: list[str] = []

    async def critical(hub: WattHub, name: str) -> None:
        async with hub.services.leases.lock("test-site"):
            order.append(f"{name}+")
            await asyncio.sleep(0.1)
            order.append(f"{name}-")

    await asyncio.gather(critical(a, "A"), critical(b, "B"), critical(c, "C"))
    # Never two holders at once: every enter is followed by its own exit.
    assert all(order[i][0] == order[i + 1][0] for i in range(0, 6, 2)), order

    async def job(hub: WattHub) -> bool:
        async with hub.services.leases.held("test-job") as mine:
            if mine:
                await asyncio.sleep(0.2)
            return mine

    assert sorted(await asyncio.gather(job(a), job(b), job(c))) == [False, False, True]
    claims = [await h.services.leases.claim_period("test-purge", 30) for h in (a, b, c)]
    assert claims.count(True) == 1


async def test_health_of_a_cluster_node(hubs: list[WattHub]) -> None:
    health = await hubs[1].health()
    assert health["mode"] == "cluster" and health["node"] == "B"
    assert health["redis"] is True and health["subscribed"] is True


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watthub", "serve", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_workers_refuse_sqlite_and_a_missing_redis(tmp_path: Path) -> None:
    sqlite = {"WATTHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/w.db"}
    result = _serve(sqlite, "--workers", "2")
    assert result.returncode != 0
    assert "--workers 2 needs PostgreSQL" in result.stderr
    pg = {"WATTHUB_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/x"}
    result = _serve({**pg, "WATTHUB_REDIS_URL": ""}, "--workers", "2")
    assert result.returncode != 0
    assert "needs Redis" in result.stderr
    result = _serve(sqlite, "--workers", "zero")
    assert result.returncode != 0 and "--workers must be a number" in result.stderr
    # One process with Redis configured still refuses SQLite, with the reason.
    result = _serve({**sqlite, "WATTHUB_REDIS_URL": REDIS_URL, "WATTHUB_AUTO_MIGRATE": "true"})
    assert result.returncode != 0 and "needs PostgreSQL" in result.stderr


async def test_workers_share_the_ports(tmp_path: Path, tmp_path_factory: Any) -> None:
    """`serve --workers 2`: two processes on one OCPP and one API port; stations land on
    either, and every command through the API (either worker) reaches its station."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    url = await database_url("postgres", tmp_path, tmp_path_factory)
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        token = await tokens_repo.create_token(conn, "workers")
    await engine.dispose()
    ocpp_port, api_port = free_port(), free_port()
    prefix = f"watthub-test-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "WATTHUB_DATABASE_URL": url,
        "WATTHUB_REDIS_URL": REDIS_URL,
        "WATTHUB_CLUSTER_PREFIX": prefix,
        "WATTHUB_OCPP_PORT": str(ocpp_port),
        "WATTHUB_API_PORT": str(api_port),
        "WATTHUB_NODE_NAME": "wk",
        "WATTHUB_DATA_DIR": str(tmp_path / "data"),
        "WATTHUB_AUTO_REGISTER": "true",
    }
    log = (tmp_path / "workers.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "watthub", "serve", "--workers", "2", env=env, stdout=log, stderr=log
    )
    api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{api_port}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    stations: list[Any] = []
    try:

        async def nodes() -> set[str]:
            seen = set()
            for _ in range(20):
                # A new connection each time: the kernel picks the worker per connection.
                with contextlib.suppress(httpx.HTTPError):
                    async with httpx.AsyncClient() as once:
                        seen.add((await once.get(f"{api.base_url}health")).json()["node"])
            return seen

        # Both workers answer on the one API port (the kernel spreads the connections).
        assert await eventually(nodes, lambda s: s == {"wk-w0", "wk-w1"}, timeout=60)
        for i in range(6):
            ws = await open_station_socket(f"ws://127.0.0.1:{ocpp_port}/ocpp/W-{i}")
            cp = TestChargePoint(f"W-{i}", ws)
            stations.append((cp, ws, asyncio.create_task(cp.start())))
            assert (await cp.booted()).status == "Accepted"
        for cp, _ws, _task in stations:
            for _ in range(3):  # through whichever worker answers the API connection
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{api_port}/api/v1",
                    headers={"Authorization": f"Bearer {token}"},
                ) as fresh_api:
                    response = await fresh_api.post(f"/stations/{cp.id}/ocpp/ClearCache", json={})
                assert response.status_code == 200, response.text
            assert len(cp.sent("ClearCache")) == 3
    finally:
        for _cp, ws, task in stations:
            task.cancel()
            with contextlib.suppress(BaseException):
                await ws.close()
        await api.aclose()
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()
        await clean_redis(prefix)
    assert proc.returncode == 0, (tmp_path / "workers.log").read_text()[-3000:]
