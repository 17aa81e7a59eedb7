"""Test harness: a real WattHub (OCPP endpoint + API) per test, on SQLite and on PostgreSQL.

PostgreSQL tests use a dedicated database ``watthub_test`` (created on the service at
127.0.0.1:5432, trust auth). Without the service they skip with the reason, except under
``CI=true``, where a missing service fails the run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.support.chargepoint import TestChargePoint, basic_auth_header, open_station_socket
from watthub.app import WattHub
from watthub.config import Settings
from watthub.storage import db, tokens_repo
from watthub.storage.schema import metadata

CI = os.environ.get("CI", "").lower() == "true"
PG_HOST = os.environ.get("WATTHUB_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("WATTHUB_TEST_PG_PORT", "5432"))
PG_ADMIN_DB = os.environ.get("WATTHUB_TEST_PG_ADMIN_DB", "test")
PG_USER = os.environ.get("WATTHUB_TEST_PG_USER", "postgres")
# One database per test process, so parallel runs (several checkouts) never share state.
PG_TEST_DB = os.environ.get("WATTHUB_TEST_PG_DB", f"watthub_test_{os.getpid()}")
PG_URL = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_TEST_DB}"


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def require_service(name: str, host: str, port: int) -> None:
    if _port_open(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if CI:
        pytest.fail(f"{message}, and under CI=true tests must not skip")
    pytest.skip(message)


class _Templates:
    """Migrate once per test session; copy (SQLite) or truncate (PostgreSQL) per test."""

    sqlite_file: Path | None = None
    pg_ready = False


async def _drop_postgres(create: bool = False) -> None:
    import asyncpg

    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{PG_TEST_DB}' AND pid <> pg_backend_pid()"
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}"')
        if create:
            await admin.execute(f'CREATE DATABASE "{PG_TEST_DB}"')
    finally:
        await admin.close()


async def _prepare_postgres() -> None:
    await _drop_postgres(create=True)
    engine = db.create_engine(PG_URL)
    await db.upgrade(engine, PG_URL)
    await engine.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _Templates.pg_ready:
        asyncio.run(_drop_postgres())


async def _truncate_postgres() -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_TEST_DB)
    try:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


async def database_url(backend: str, tmp_path: Path, tmp_path_factory: Any) -> str:
    if backend == "cluster":
        backend = "postgres"
    if backend == "sqlite":
        if _Templates.sqlite_file is None:
            template = tmp_path_factory.mktemp("template") / "template.db"
            url = f"sqlite+aiosqlite:///{template}"
            engine = db.create_engine(url)
            await db.upgrade(engine, url)
            await engine.dispose()
            _Templates.sqlite_file = template
        target = tmp_path / "watthub.db"
        shutil.copyfile(_Templates.sqlite_file, target)
        return f"sqlite+aiosqlite:///{target}"
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    if not _Templates.pg_ready:
        await _prepare_postgres()
        _Templates.pg_ready = True
    else:
        await _truncate_postgres()
    return PG_URL


REDIS_HOST = os.environ.get("WATTHUB_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("WATTHUB_TEST_REDIS_PORT", "6379"))
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``backend``: SQLite and PostgreSQL everywhere; the OCTT conformance tests also run on a
    two-node cluster (``cluster``: PostgreSQL + Redis, stations on node A, API on node B)."""
    if "backend" not in metafunc.fixturenames:
        return
    if any(
        m.name == "parametrize" and "backend" in m.args[0]
        for m in metafunc.definition.iter_markers()
    ):
        return
    backends = ["sqlite", "postgres"]
    if Path(str(metafunc.definition.fspath)).parent.name == "conformance":
        backends.append("cluster")
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Csms:
    """A running WattHub and handles to talk to it."""

    hub: WattHub
    ocpp_base: str
    api_base: str
    token: str
    api: httpx.AsyncClient
    _stations: list[tuple[TestChargePoint, Any, asyncio.Task[Any]]] = field(default_factory=list)

    def url(self, station_id: str) -> str:
        return f"{self.ocpp_base}/{station_id}"

    async def add_station(self, station_id: str, **fields: Any) -> dict[str, Any]:
        response = await self.api.post("/stations", json={"id": station_id, **fields})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def add_tag(self, id_tag: str, **fields: Any) -> dict[str, Any]:
        response = await self.api.put(f"/id-tags/{id_tag}", json=fields)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def connect(
        self,
        station_id: str,
        *,
        password: str | None = None,
        cp_class: type[TestChargePoint] = TestChargePoint,
        register: bool = True,
        ssl: Any = None,
        url: str | None = None,
    ) -> TestChargePoint:
        """Register (if needed) and connect a test charge point; it is closed after the test."""
        if register:
            existing = await self.api.get(f"/stations/{station_id}")
            if existing.status_code == 404:
                await self.add_station(station_id)
        headers = basic_auth_header(station_id, password) if password else None
        ws = await open_station_socket(url or self.url(station_id), headers=headers, ssl=ssl)
        cp = cp_class(station_id, ws)
        task = asyncio.create_task(cp.start())
        self._stations.append((cp, ws, task))
        return cp

    async def command(
        self, station_id: str, action: str, payload: dict[str, Any] | None = None, **params: Any
    ) -> httpx.Response:
        """The generic endpoint: POST /stations/{id}/ocpp/{Action}."""
        return await self.api.post(
            f"/stations/{station_id}/ocpp/{action}", json=payload or {}, params=params
        )

    async def close_stations(self) -> None:
        for _cp, ws, task in self._stations:
            task.cancel()
            with contextlib.suppress(BaseException):
                await ws.close()
            with contextlib.suppress(BaseException):
                await task
        self._stations.clear()


class TwoNodes:
    """The ``cluster`` backend: node A (``csms.hub``, where stations connect) answers every
    attribute, node B serves the API; ``stop`` stops both."""

    def __init__(self, a: WattHub, b: WattHub) -> None:
        self.a, self.b = a, b

    def __getattr__(self, name: str) -> Any:
        return getattr(self.a, name)

    @property
    def api_port(self) -> int:
        """The API (and file server) the tests talk to: node B's."""
        return self.b.api_port

    async def stop(self) -> None:
        await self.b.stop()
        await self.a.stop()
        await clean_redis(self.a.settings.cluster_prefix)


async def clean_redis(prefix: str) -> None:
    """Remove what a test cluster left in the shared Redis (its keys all start with prefix)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _start_hub(settings: Settings, start: dict[str, Any]) -> WattHub:
    hub = WattHub(settings)
    await hub.start(ocpp_sock=_bound_socket(), api_sock=_bound_socket(), **start)
    return hub


async def start_csms(
    backend: str, tmp_path: Path, tmp_path_factory: Any, **overrides: Any
) -> tuple[WattHub, Csms]:
    url = await database_url(backend, tmp_path, tmp_path_factory)
    start = overrides.pop("_start", {})
    if backend == "cluster":
        require_service("Redis", REDIS_HOST, REDIS_PORT)
        overrides.setdefault("redis_url", REDIS_URL)
        overrides.setdefault("cluster_prefix", f"watthub-test-{uuid.uuid4().hex[:10]}")

    def settings(node: str) -> Settings:
        defaults: dict[str, Any] = {"call_timeout": 5.0, "ping_interval": None}
        return Settings(
            database_url=url,
            data_dir=tmp_path / "data",
            ocpp_port=0,
            api_port=0,
            **({"node_name": node} if backend == "cluster" else {}),
            **{**defaults, **overrides},
        )

    hub: Any = await _start_hub(settings("A"), start)
    api_hub = hub
    if backend == "cluster":
        api_hub = await _start_hub(settings("B"), start)
        hub = TwoNodes(hub, api_hub)
    async with hub.services.engine.begin() as conn:
        token = await tokens_repo.create_token(conn, "tests", role="admin")
    api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{api_hub.api_port}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    csms = Csms(
        hub,
        ocpp_base=f"ws://127.0.0.1:{hub.ocpp.port}/ocpp",
        api_base=f"http://127.0.0.1:{api_hub.api_port}/api/v1",
        token=token,
        api=api,
    )
    return hub, csms


@contextlib.asynccontextmanager
async def running_csms(
    backend: str, tmp_path: Path, tmp_path_factory: Any, **settings: Any
) -> AsyncIterator[Csms]:
    """A WattHub (``settings`` override the test defaults), stopped with its stations after."""
    hub, handle = await start_csms(backend, tmp_path, tmp_path_factory, **settings)
    try:
        yield handle
    finally:
        await handle.close_stations()
        await handle.api.aclose()
        await hub.stop()


@pytest_asyncio.fixture
async def csms(backend: str, tmp_path: Path, tmp_path_factory: Any) -> AsyncIterator[Csms]:
    async with running_csms(backend, tmp_path, tmp_path_factory) as handle:
        yield handle


@pytest_asyncio.fixture
async def station(csms: Csms) -> TestChargePoint:
    """A registered, connected and booted station 'CP1' with one connector."""
    cp = await csms.connect("CP1")
    answer = await cp.booted()
    assert answer.status == "Accepted"
    return cp
