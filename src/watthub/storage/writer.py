"""One writer task that commits queued writes in batches (group commit).

A handler that must not answer before its data is durable awaits :meth:`BatchWriter.run`; the
future resolves only after the transaction holding the write has committed. Bulk, loss-tolerant
writes (message log, last-seen) use :meth:`post`. Batching keeps one commit (one fsync) for many
messages under load, and a single writer avoids SQLite's "database is locked"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")
WriteOp = Callable[[AsyncConnection], Awaitable[Any]]

log = logging.getLogger(__name__)


class BatchWriter:
    def __init__(self, engine: AsyncEngine, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[WriteOp, asyncio.Future[Any] | None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="watthub-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def run(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return await future

    def post(self, op: WriteOp) -> None:
        self._queue.put_nowait((op, None))

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[tuple[WriteOp, asyncio.Future[Any] | None]]) -> None:
        results: list[Any] = []
        try:
            async with self._engine.begin() as conn:
                for op, _future in batch:
                    results.append(await op(conn))
        except Exception as exc:
            if len(batch) == 1:
                log.exception("database write failed")
                future = batch[0][1]
                if future is not None and not future.done():
                    future.set_exception(exc)
                return
            # One bad write must not fail the others: retry each in its own transaction.
            for item in batch:
                await self._commit_one(item)
            return
        self.batches += 1
        self.ops += len(batch)
        for (_op, future), result in zip(batch, results, strict=True):
            if future is not None and not future.done():
                future.set_result(result)

    async def _commit_one(self, item: tuple[WriteOp, asyncio.Future[Any] | None]) -> None:
        op, future = item
        try:
            async with self._engine.begin() as conn:
                result = await op(conn)
        except Exception as exc:
            log.exception("database write failed")
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        self.batches += 1
        self.ops += 1
        if future is not None and not future.done():
            future.set_result(result)
