"""Hot-path reads on PostgreSQL (a station's row at its handshake, an id tag on a cache miss) on a
few connections held for the reader's lifetime.

Through a pool checkout per read, SQLAlchemy's asyncio layer cost ~130 µs of CPU per read
(checkout and check-in through a greenlet, an execution context, a cursor adaption): in the
benchmark's mix, where most id tags are not cached, 7–9 % of the event loop on PostgreSQL. Here a
read borrows one of ``size`` connections opened once (AUTOCOMMIT: a read is one statement, or a
few that need no common snapshot), and its :class:`~watthub.storage.prepared.Prepared` statements
go straight to the asyncpg connection under it (``pg_batch.PgBatchConnection``, as in the
writer's batch); any other statement of the read goes through SQLAlchemy on the same connection.
A connection that failed (the server restarted, a cancelled read) is dropped, not reused."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watthub.storage import pg_batch
from watthub.storage.db import ReadWork


class PgReader:
    def __init__(self, engine: AsyncEngine, size: int = 8, wait: float = 5.0) -> None:
        self._engine = engine
        self._wait = wait  # the longest wait for a free connection (the connect timeout)
        self._slots = asyncio.Semaphore(size)  # reads at once: one connection each
        self._idle: deque[tuple[AsyncConnection, Any]] = deque()
        self._closed = False

    async def read(self, work: ReadWork) -> Any:
        async with asyncio.timeout(self._wait):
            await self._slots.acquire()
        try:
            if self._closed:
                raise RuntimeError("the reader is closed")
            conn, driver = self._idle.pop() if self._idle else await self._open()
            try:
                result = await work(pg_batch.PgBatchConnection(conn, driver))
            except BaseException as exc:
                # A failed or cancelled read leaves the connection in a state not worth
                # guessing (mid-statement, or broken in a way the driver reports oddly): it is
                # dropped. Reads rarely fail, and a new connection is a few milliseconds.
                await _close(conn)
                if getattr(exc, "connection_invalidated", False):
                    # Lost, not refused: the server restarted or dropped its clients, and the
                    # idle connections went with it (SQLAlchemy's pool does the same).
                    while self._idle:
                        await _close(self._idle.pop()[0])
                raise
            if self._closed:
                await conn.close()
            else:
                self._idle.append((conn, driver))
            return result
        finally:
            self._slots.release()

    async def _open(self) -> tuple[AsyncConnection, Any]:
        conn = await pg_batch.open_autocommit(self._engine)
        return conn, await pg_batch.driver_of(conn)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self._idle.pop()[0].close()


async def _close(conn: AsyncConnection) -> None:
    try:
        await conn.invalidate()
        await conn.close()
    except Exception:  # already broken: nothing more to do with it
        pass
