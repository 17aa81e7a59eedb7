"""Small asyncio helpers shared by the long-running parts of WattHub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("watthub")


async def stop_task(task: asyncio.Task[Any] | None, timeout: float = 5.0) -> None:
    """Cancel ``task`` and wait for it to end, cancelling again while it keeps running.

    redis-py can swallow a cancellation that lands inside a command, so one ``cancel()`` and an
    unbounded ``await`` can hang a shutdown for good (seen in CI). The wait is bounded by
    ``timeout``; a task still running then is logged and left behind."""
    if task is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("task %s did not stop within %.1f s", task.get_name(), timeout)
            return
        task.cancel()
        await asyncio.wait({task}, timeout=min(0.5, remaining))
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.exception()  # retrieved: a failure was logged where it happened


K = TypeVar("K")
V = TypeVar("V")


class BatchedLookup(Generic[K, V]):
    """Concurrent look-ups of single keys answered by one query per loop iteration.

    In a storm, thousands of handlers ask the same question about their own station at once
    (one pooled connection and one query each); here the keys asked in one loop iteration
    share ``fetch(keys)`` (up to ``batch`` keys), which returns the found keys' values."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], batch: int = 500):
        self._fetch = fetch
        self._batch = batch
        self._pending: dict[K, list[asyncio.Future[V | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.fetches = 0

    async def get(self, key: K) -> V | None:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        await asyncio.sleep(0)  # the callers that are ready in this iteration join the batch
        while self._pending:
            keys = list(self._pending)[: self._batch]
            waiters = {key: self._pending.pop(key) for key in keys}
            try:
                found = await self._fetch(keys)
            except Exception as exc:
                for futures in waiters.values():
                    for f in futures:
                        if not f.done():
                            f.set_exception(exc)
                continue
            self.fetches += 1
            for key, futures in waiters.items():
                for f in futures:
                    if not f.done():
                        f.set_result(found.get(key))
