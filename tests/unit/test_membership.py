"""Cluster membership on the real Redis (127.0.0.1:6379), under a key unique to this run."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from tests.conftest import require_service
from tests.support.poll import eventually
from watthub.observability.membership import Membership


async def test_nodes_join_leave_and_expire() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    key = f"watthub-test-{uuid.uuid4().hex}:nodes"
    a = Membership(client, key, "node-a", period=0.1)
    b = Membership(client, key, "node-b", period=0.1)
    c = Membership(client, key, "node-c", period=0.1)
    try:
        a.start()
        b.start()
        await c.announce()  # node-c announces once and then goes silent, as after kill -9
        everyone = ["node-a", "node-b", "node-c"]
        assert await eventually(a.nodes, lambda nodes: nodes == everyone, timeout=2) == everyone
        await b.stop()  # a clean stop leaves at once
        assert await a.nodes() == ["node-a", "node-c"]
        await asyncio.sleep(c.expiry + 0.1)  # node-c's announcement is too old now
        assert await a.nodes() == ["node-a"]
    finally:
        await a.stop()
        await client.delete(key)
        await client.aclose()
