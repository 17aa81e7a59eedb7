"""The ``watthub-cluster-*`` benchmark targets: ``watthub serve --workers N`` on PostgreSQL and
Redis, started and stopped the way the benchmark does it (no load: the lead runs the numbers)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REDIS_HOST, REDIS_PORT, database_url, require_service
from watthub.bench import procstats
from watthub.bench.targets import TARGETS


def test_cluster_target_runs_two_workers(tmp_path: Path, tmp_path_factory: Any) -> None:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    url = asyncio.run(database_url("postgres", tmp_path, tmp_path_factory))  # migrated, empty
    target = TARGETS["watthub-cluster-2"](tmp_path, db_url=url)
    assert target.command[-2:] == ["--workers", "2"]
    assert target.env["WATTHUB_REDIS_URL"].startswith("redis://")
    assert target.env["WATTHUB_CLUSTER_PREFIX"].startswith("watthub-bench-")
    assert target.service_processes == frozenset({"redis-server"})
    assert target.db_name == url.rsplit("/", 1)[-1] and target.is_watthub
    other = TARGETS["watthub-cluster-1"](tmp_path, db_url=url)
    assert other.command[-1] == "1"
    assert other.env["WATTHUB_CLUSTER_PREFIX"] != target.env["WATTHUB_CLUSTER_PREFIX"]

    with target.running() as server:
        # The supervisor and its two workers: the server CPU the benchmark reads is all three.
        deadline = time.monotonic() + 60
        while len(procstats.process_tree(server.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(procstats.process_tree(server.pid)) == 3
        assert target.probe_url is not None
        assert httpx.get(target.probe_url, timeout=10).status_code == 200
        window = procstats.CpuWindow(
            server.pid, [], db=True, database=target.db_name, services=target.service_processes
        )
        time.sleep(0.2)
        cpu = window.stop()
        assert cpu["server_cpu_s"] >= 0 and cpu["db_cpu_s"] >= 0
    assert server.proc is not None and server.proc.poll() is not None  # stopped with its workers
