"""Cluster membership for the metrics: which nodes are alive, as Redis sees it.

Each node writes its name into one sorted set (``{prefix}:nodes``) with the time of its last
announcement as the score, every ``period`` seconds; a node is live while its announcement is
younger than ``expiry``. A node that stops cleanly removes itself; one killed with ``kill -9``
drops out after ``expiry``. This is what ``watthub_cluster_nodes`` and ``watthub_cluster_node``
show; station ownership itself does not depend on it (the cluster layer has leases for that)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from watthub.aio import stop_task

log = logging.getLogger("watthub.cluster")


class Membership:
    def __init__(self, redis: Any, key: str, name: str, period: float = 5.0) -> None:
        self.redis = redis
        self.key = key
        self.name = name
        self.period = period
        self.expiry = 3 * period
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def announce(self) -> None:
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.key, {self.name: now})
        # Housekeeping by every node: names of nodes gone for long are not kept forever.
        pipe.zremrangebyscore(self.key, "-inf", now - 10 * self.expiry)
        await pipe.execute()

    async def nodes(self) -> list[str]:
        members = await self.redis.zrangebyscore(self.key, time.time() - self.expiry, "+inf")
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="watthub-cluster-membership")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.announce()
            except Exception as exc:  # Redis away: keep trying, the node serves regardless
                log.debug("membership announcement failed: %s", exc)
            await asyncio.sleep(self.period)

    async def stop(self) -> None:
        self._stopping = True
        await stop_task(self._task)
        self._task = None
        with contextlib.suppress(Exception):
            await self.redis.zrem(self.key, self.name)
