"""Fixtures of the cluster tests: real PostgreSQL, real Redis, WattHub nodes as processes."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.nodes import Cluster
from tests.conftest import PG_HOST, PG_PORT, REDIS_HOST, REDIS_PORT, REDIS_URL, require_service
from watthub.storage import db, tokens_repo


async def _database_and_token(tmp: Path, factory: Any) -> tuple[str, str]:
    from tests.conftest import database_url

    url = await database_url("postgres", tmp, factory)
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            token = await tokens_repo.create_token(conn, "cluster-tests")
    finally:
        await engine.dispose()
    return url, token


def make_cluster(tmp: Path, factory: Any, database: str | None = None, redis: str = REDIS_URL):
    """A prepared (empty) database and a :class:`Cluster` with no node started yet."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    # In a thread of its own: the caller may be a test with its event loop running.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        url, token = pool.submit(asyncio.run, _database_and_token(tmp, factory)).result()
    return Cluster(tmp, database or url, redis, token)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Nodes A, B and C, shared by the tests of a module (each uses its own station ids)."""
    tmp = tmp_path_factory.mktemp("cluster")
    cluster = make_cluster(tmp, tmp_path_factory)
    try:
        cluster.start("A", "B", "C")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A factory of clusters for tests that break nodes (stopped after the test)."""
    made: list[Cluster] = []

    def factory(**kwargs: Any) -> Cluster:
        cluster = make_cluster(tmp_path, tmp_path_factory, **kwargs)
        made.append(cluster)
        return cluster

    try:
        yield factory
    finally:
        for cluster in made:
            cluster.stop()
