"""Once-only work: locks and job leases that hold across every WattHub node.

Domain code asks ``services.leases``; one process uses :class:`LocalLeases` (asyncio locks),
a cluster uses Redis leases (``cluster/leases.py``) with the same interface:

* ``async with leases.lock(name):`` — mutual exclusion (one site rebalance at a time, one local
  list synchronisation per station at a time); waits for the holder.
* ``async with leases.held(name) as mine:`` — a periodic job's pass: ``mine`` is False when
  another node runs it right now (skip this pass, do not wait).
* ``await leases.claim_period(name, seconds)`` — True for exactly one caller per period
  cluster-wide (hourly message-log purge).

``local_ok=True`` marks work that is harmless to run on several nodes at once (idempotent
database updates): while Redis is unreachable it then runs locally instead of pausing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Protocol


class Leases(Protocol):
    def lock(
        self, name: str, *, ttl: float = 30.0
    ) -> contextlib.AbstractAsyncContextManager[None]: ...

    def held(
        self, name: str, *, ttl: float = 30.0, local_ok: bool = False
    ) -> contextlib.AbstractAsyncContextManager[bool]: ...

    async def claim_period(self, name: str, seconds: float, *, local_ok: bool = False) -> bool: ...


class LocalLeases:
    """One process: plain asyncio locks (created on the running loop; tests run several hubs)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._periods: dict[str, float] = {}

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, ttl: float = 30.0) -> AsyncIterator[None]:
        async with self._lock(name):
            yield

    @contextlib.asynccontextmanager
    async def held(
        self, name: str, *, ttl: float = 30.0, local_ok: bool = False
    ) -> AsyncIterator[bool]:
        lock = self._lock(name)
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def claim_period(self, name: str, seconds: float, *, local_ok: bool = False) -> bool:
        now = time.monotonic()
        if self._periods.get(name, 0.0) > now:
            return False
        self._periods[name] = now + seconds
        return True
