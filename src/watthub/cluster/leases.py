"""Redis leases for once-only work (the interface is ``domain/leases.py``).

A lease is ``P:lease:{name}`` = a random token, ``SET NX PX ttl``; while the work runs a task
renews it every ``ttl / 3`` (only if the token is still ours), and it is deleted at the end (again
only if ours). A node that dies mid-work loses the lease after ``ttl``.

Redis unreachable: ``lock`` falls back to a local lock (each node then serves only its own
stations; documented in docs/cluster.md), ``held`` and ``claim_period`` skip the work unless it is
marked ``local_ok`` (idempotent database updates)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from redis.exceptions import RedisError

from watthub.aio import stop_task
from watthub.cluster.node import ClusterNode, unless_cancelled
from watthub.domain.leases import LocalLeases

log = logging.getLogger("watthub.cluster")

# Delete KEYS[1] only if it still holds our value ARGV[1] (claims and leases alike).
RELEASE_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RETRY = 0.02


class RedisLeases:
    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        # Waiters on this node queue locally first, so only one of them polls Redis.
        self._local = LocalLeases()
        self._release = node.redis.register_script(RELEASE_IF_MINE)
        self._extend = node.redis.register_script(_EXTEND)

    def _key(self, name: str) -> str:
        return self.node.key("lease", name)

    async def _try(self, name: str, token: str, ttl: float) -> bool:
        return bool(await self.node.redis.set(self._key(name), token, px=int(ttl * 1000), nx=True))

    @contextlib.asynccontextmanager
    async def _holding(self, name: str, token: str, ttl: float) -> AsyncIterator[None]:
        async def renew() -> None:
            while True:
                await asyncio.sleep(ttl / 3)
                with contextlib.suppress(RedisError, OSError):
                    await self._extend(keys=[self._key(name)], args=[token, int(ttl * 1000)])

        renewal = asyncio.create_task(renew())
        try:
            yield
        finally:
            await stop_task(renewal)
            with contextlib.suppress(RedisError, OSError):
                await self._release(keys=[self._key(name)], args=[token])

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, ttl: float = 30.0) -> AsyncIterator[None]:
        token = uuid.uuid4().hex
        async with self._local.lock(name):
            while True:
                try:
                    if await self._try(name, token, ttl):
                        break
                except (RedisError, OSError) as exc:
                    unless_cancelled()
                    log.warning("lease %s: Redis unreachable (%s), locking on this node", name, exc)
                    yield
                    return
                await asyncio.sleep(_RETRY)
            async with self._holding(name, token, ttl):
                yield

    @contextlib.asynccontextmanager
    async def held(
        self, name: str, *, ttl: float = 30.0, local_ok: bool = False
    ) -> AsyncIterator[bool]:
        token = uuid.uuid4().hex
        async with self._local.held(name) as here:
            if not here:
                yield False
                return
            try:
                mine = await self._try(name, token, ttl)
            except (RedisError, OSError):
                unless_cancelled()
                yield local_ok
                return
            if not mine:
                yield False
                return
            async with self._holding(name, token, ttl):
                yield True

    async def claim_period(self, name: str, seconds: float, *, local_ok: bool = False) -> bool:
        try:
            return await self._try(name, uuid.uuid4().hex, seconds)
        except (RedisError, OSError):
            unless_cancelled()
            return local_ok and await self._local.claim_period(name, seconds)
