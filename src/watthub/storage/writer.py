"""One writer task that commits queued writes in batches (group commit).

A handler that must not answer before its data is durable awaits :meth:`BatchWriter.run` (a
function of the connection) or :meth:`BatchWriter.insert` (rows for one table); the future
resolves only after the transaction holding the write has committed. Loss-tolerant writes (message
log, last-seen) use :meth:`post` / :meth:`post_rows`.

Why it is fast: one commit (one fsync) covers every write queued meanwhile, and the rows queued for
the same table by many messages go to the database as one ``executemany`` per batch instead of one
statement each. A batch holding only loss-tolerant writes lingers briefly so that an idle network
(heartbeats) does not pay one commit per message. A single writer also avoids SQLite's "database
is locked"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Executable, Table
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watthub.logs import throttle
from watthub.storage import pg_batch, pg_sets
from watthub.storage.fast_rows import (
    raw_executemany,
    sqlite_executemany,
    sqlite_executemany_tuples,
)
from watthub.storage.sqlite_writer import SQLiteBatchConnection

T = TypeVar("T")
WriteOp = Callable[[AsyncConnection], Awaitable[Any]]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Rows:
    # A table (rows are inserted) or a statement taking one parameter set per row (an upsert).
    target: Table | Executable
    rows: list[dict[str, Any]] | list[tuple[Any, ...]]
    # Set: ``rows`` are tuples of these columns (no dict per row on the hot path).
    columns: tuple[str, ...] | None = None
    # Set: ``rows`` is the open buffer of :meth:`BatchWriter.post_tuple` under this key, still
    # taking rows until its batch is committed.
    buffer: tuple[Table | Executable, tuple[str, ...]] | None = None


@dataclass(slots=True)
class _Item:
    work: WriteOp | _Rows
    future: asyncio.Future[Any] | None
    rows: _Rows | None = None  # rows inserted with ``work`` (coalesced per table)
    queued_at: float = field(default_factory=time.monotonic)


class BatchWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        max_batch: int = 512,
        linger: float = 0.05,
        sqlite: SQLiteBatchConnection | None = None,
        write_timeout: float | None = None,
        commit_interval: float = 0.0,
    ) -> None:
        self._engine = engine
        self._commit_interval = commit_interval
        self._last_start = 0.0  # monotonic start of the last batch
        self._last_durable = 0  # durable writes in the last batch
        self._write_timeout = write_timeout
        self._sqlite = sqlite
        self._postgres = engine.dialect.name == "postgresql"
        self._max_batch = max_batch
        self._linger = linger
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._durable_waiting = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        self._driver: Any = None  # PostgreSQL: the asyncpg connection under ``_conn``
        # Durable writes in the order they were queued, with the time their caller gives up;
        # one timer fails the overdue ones (an ``asyncio.wait_for`` per write cost a task
        # switch, a timer and a cancellation scope per message).
        self._deadlines: deque[tuple[float, asyncio.Future[Any]]] = deque()
        # The open loss-tolerant tuple buffers (post_tuple), one queued item each.
        self._buffers: dict[tuple[Table | Executable, tuple[str, ...]], list[tuple[Any, ...]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop_ref: asyncio.AbstractEventLoop | None = None  # set by start()
        self.batches = 0
        self.ops = 0
        self.failures = 0  # writes that failed (their caller got the error)
        # How long the first write of the last committed batch waited in the queue: the
        # saturation signal of admission control (a count of queued items is not: message-log
        # rows are cheap, a transaction write is not).
        self.lag = 0.0
        self.isolations = 0  # batches split to isolate a write the database refused
        # Called with (writes, seconds) after each committed batch (metrics: commit latency).
        self.on_commit: Callable[[int, float], None] | None = None

    def start(self) -> None:
        self._loop_ref = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._loop(), name="watthub-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        self._durable_waiting.set()  # no lingering on the way out
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._loop_ref = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self._sqlite is not None:
            self._sqlite.close()

    async def run(
        self,
        op: Callable[[AsyncConnection], Awaitable[T]],
        *,
        rows: tuple[Table | Executable, list[dict[str, Any]]] | None = None,
    ) -> T:
        """Run ``op`` in the next batch; ``rows`` (target, rows) are written in the same commit."""
        extra = _Rows(*rows) if rows is not None and rows[1] else None
        return await self._durable(op, extra)  # type: ignore[no-any-return]

    async def insert(self, target: Table | Executable, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` into a table (or run a statement once per row, e.g. an upsert)
        durably; the rows of one target from the whole batch go in one ``executemany``."""
        if rows:
            await self._durable(_Rows(target, rows))

    async def insert_pair(
        self,
        first: tuple[Table | Executable, list[dict[str, Any]]],
        second: tuple[Table | Executable, list[dict[str, Any]]],
    ) -> None:
        """Rows for two targets, durably in the same commit, with one future (a gather of two
        ``insert`` calls costs two tasks and two futures per message)."""
        await self._durable(_Rows(*first), _Rows(*second))

    async def insert_tuples(
        self, target: Table | Executable, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> None:
        """:meth:`insert` with rows as tuples of ``columns``."""
        if rows:
            await self._durable(_Rows(target, rows, columns))

    def post(self, op: WriteOp) -> None:
        self._queue.put_nowait(_Item(op, None))

    def post_rows(self, target: Table | Executable, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._queue.put_nowait(_Item(_Rows(target, rows), None))

    def post_tuple(
        self, target: Table | Executable, columns: tuple[str, ...], row: tuple[Any, ...]
    ) -> None:
        """A loss-tolerant row as a tuple of ``columns``. Rows posted until their batch is
        committed share one queued item: no item, queue put and get per row (the message log
        posts one row per station message)."""
        key = (target, columns)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = []
            self._queue.put_nowait(_Item(_Rows(target, buffer, columns, key), None))
        buffer.append(row)

    async def _durable(self, work: WriteOp | _Rows, rows: _Rows | None = None) -> Any:
        # The loop taken once at start: ``get_running_loop`` per write showed in the profile.
        loop = self._loop_ref or asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put_nowait(_Item(work, future, rows))
        self._durable_waiting.set()
        if self._write_timeout is not None:
            self._deadlines.append((time.monotonic() + self._write_timeout, future))
            if self._sweeper is None:
                self._sweeper = loop.call_later(self._sweep_period(), self._sweep)
        return await future

    def _sweep_period(self) -> float:
        # How late a timed-out caller may hear of it: a small part of the timeout.
        assert self._write_timeout is not None
        return min(self._write_timeout / 8, 0.25)

    def _sweep(self) -> None:
        """Fail the durable writes whose caller has waited ``write_timeout``: the caller gets
        ``DatabaseUnavailable``. A write that has not started by then is skipped by the writer
        (its future is done), so the caller's error answer is the whole truth. (One already in
        the database's hands may still commit — as after a crash between commit and answer;
        station messages are idempotent for that reason.)"""
        self._sweeper = None
        deadlines = self._deadlines
        now = time.monotonic()
        while deadlines and (deadlines[0][1].done() or deadlines[0][0] <= now):
            _deadline, future = deadlines.popleft()
            if not future.done():
                future.set_exception(
                    DatabaseUnavailable(
                        f"the database did not take the write within {self._write_timeout:g} s"
                    )
                )
        if deadlines:
            loop = self._loop_ref or asyncio.get_running_loop()
            self._sweeper = loop.call_later(self._sweep_period(), self._sweep)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _drain(self, batch: list[_Item]) -> None:
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _loop(self) -> None:
        while True:
            if self._queue.empty():
                # Nothing waits: the last batch's wait (maybe from a busy start-up) says nothing
                # about the next write, and a stale lag made admission control refuse boots.
                self.lag = 0.0
            batch = [await self._queue.get()]
            if self._last_durable > 1:
                # Several stations are writing: gather them for a moment. Each commit rewrites
                # every page it touched (table tails, index leaves) and fsyncs, so on a fast disk
                # commits right after each other cost far more CPU per message than a few per
                # interval (measured: 345 -> 265 µs/msg at 2000 msg/s with 5 ms). A lone write
                # (one station, or an idle network) never waits.
                wait = self._last_start + self._commit_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            self._last_start = time.monotonic()
            # Let the handlers that are ready in this loop iteration queue their writes too:
            # one commit for all of them instead of one each.
            await asyncio.sleep(0)
            self._drain(batch)
            if self._linger > 0 and all(item.future is None for item in batch):
                # Only loss-tolerant writes: wait a little for company, unless a durable write
                # arrives, which must not wait.
                self._durable_waiting.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._durable_waiting.wait(), self._linger)
                self._drain(batch)
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _connection(self) -> AsyncConnection:
        # One connection for the writer's lifetime: no pool checkout and reset per batch.
        if self._conn is None or self._conn.closed:
            if self._postgres:
                self._conn = await pg_batch.open_autocommit(self._engine)
                self._driver = await pg_batch.driver_of(self._conn)
            else:
                self._conn = await self._engine.connect()
        return self._conn

    async def _transaction(self, batch: list[_Item]) -> list[Any]:
        if self._sqlite is not None:
            return await self._sqlite.transaction(lambda conn: self._apply(conn, batch))
        conn = await self._connection()
        if self._postgres:
            rows = None
            if all(isinstance(item.work, _Rows) for item in batch):
                rows = pg_sets.plan(_by_target(batch).items())
                if not rows.rest:
                    # Rows only, all in one statement: it is atomic and commits by itself, no
                    # BEGIN/COMMIT round trips (pg_sets.py). A caller giving up meanwhile is as
                    # a caller giving up during COMMIT: the write is in the database's hands.
                    await pg_sets.write(pg_batch.PgBatchConnection(conn, self._driver), rows)
                    return [None] * len(batch)
            return await pg_batch.in_transaction(
                conn, self._driver, lambda pg: self._apply(pg, batch, rows)
            )
        async with conn.begin():
            return await self._apply(conn, batch)

    async def _drop_connection(self) -> None:
        if self._sqlite is not None:
            self._sqlite.reset()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.invalidate()
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = self._driver = None

    async def _commit(self, batch: list[_Item]) -> None:
        # A durable write whose caller gave up (write timeout) is not run any more.
        live = [item for item in batch if item.future is None or not item.future.done()]
        self._last_durable = sum(1 for item in live if item.future is not None)
        if not live:
            return
        for item in live:
            work = item.work
            if isinstance(work, _Rows) and work.buffer is not None:
                # From here on the buffer is this batch's: later rows open a new one.
                if self._buffers.get(work.buffer) is work.rows:
                    del self._buffers[work.buffer]
                work.buffer = None
        started = time.perf_counter()
        try:
            results = await self._transaction(live)
        except _Abandoned:
            await self._commit(live)  # without the abandoned writes
            return
        except Exception as exc:
            await self._handle_failure(live, exc)
            return
        self.batches += 1
        self.ops += len(live)
        if self.on_commit is not None:
            self.on_commit(len(live), time.perf_counter() - started)
        self.lag = time.monotonic() - live[0].queued_at
        for item, result in zip(live, results, strict=True):
            if item.future is not None and not item.future.done():
                item.future.set_result(result)

    async def _handle_failure(self, batch: list[_Item], exc: Exception) -> None:
        if is_unavailable(exc):
            # The database, not the data: every write of the batch fails at once (retrying
            # them one by one would wait out the timeout once per write).
            await self._drop_connection()
            if self._postgres and getattr(exc, "connection_invalidated", False):
                # The server dropped the connection, likely all of them (a restart): the pool's
                # other connections are as dead. SQLAlchemy drops its pool itself when it sees a
                # disconnect, but the batch's statements go to asyncpg directly (pg_batch.py).
                await self._engine.dispose()
            throttle.log(
                log,
                "db-unavailable",
                logging.ERROR,
                "database unavailable, %d writes failed: %s",
                len(batch),
                _short(exc),
            )
            for item in batch:
                self._fail(item, exc)
            return
        if len(batch) == 1 and _split_rows(batch[0]):
            # The buffered rows of many messages: isolate the bad row, keep the others.
            work = batch[0].work
            assert isinstance(work, _Rows)
            middle = len(work.rows) // 2
            halves = (work.rows[:middle], work.rows[middle:])
            self.isolations += 1
            for half in halves:
                await self._commit([_Item(_Rows(work.target, half, work.columns), None)])  # type: ignore[arg-type]
            return
        if len(batch) == 1:
            throttle.log(
                log,
                f"db-refused:{type(exc).__name__}",
                logging.ERROR,
                "database refused a write: %s",
                _short(exc),
                exc_info=exc,
            )
            self._fail(batch[0], exc)
            return
        # One bad write must not fail the others: halve the batch until the bad write is alone.
        # k bad writes among n cost about 2·k·log2(n) small transactions, and each good half
        # still commits as one batch (one fsync), not one transaction per write.
        self.isolations += 1
        middle = len(batch) // 2
        await self._commit(batch[:middle])
        await self._commit(batch[middle:])

    @staticmethod
    async def _apply(
        conn: Any, batch: list[_Item], pg_rows: pg_sets.Plan | None = None
    ) -> list[Any]:
        """Write the batch's rows, then run its operations. ``pg_rows``: the rows already
        planned (PostgreSQL)."""
        if isinstance(conn, pg_batch.PgBatchConnection):
            await pg_sets.write(conn, pg_rows or pg_sets.plan(_by_target(batch).items()))
        else:
            raw = getattr(conn, "raw_sqlite", None)
            for (target, columns), rows in _by_target(batch).items():
                # In queue order, so two updates of one row in a batch apply in the order they
                # came.
                groups = (
                    sqlite_executemany(target, rows)
                    if columns is None
                    else [sqlite_executemany_tuples(target, columns, rows)]
                )
                for sql, params in groups:
                    if raw is not None:
                        raw_executemany(raw, sql, params)
                    else:
                        await conn.exec_driver_sql(sql, params)
        results = [
            None if isinstance(item.work, _Rows) else await item.work(conn) for item in batch
        ]
        if any(item.future is not None and item.future.done() for item in batch):
            # A caller gave up while the batch waited for the database (write timeout, or its
            # task was cancelled) and was answered an error: its write must not commit now.
            # Roll back; the rest is redone. (No future is resolved before the commit.)
            raise _Abandoned
        return results

    def _fail(self, item: _Item, exc: Exception) -> None:
        self.failures += 1
        if item.future is not None and not item.future.done():
            item.future.set_exception(exc)


def _by_target(
    batch: list[_Item],
) -> dict[tuple[Table | Executable, tuple[str, ...] | None], list[Any]]:
    """The rows of a batch, coalesced per (target, columns) in the order they were queued."""
    by_target: dict[tuple[Table | Executable, tuple[str, ...] | None], list[Any]] = {}
    for item in batch:
        for part in (item.work, item.rows):
            if isinstance(part, _Rows):
                by_target.setdefault((part.target, part.columns), []).extend(part.rows)
    return by_target


def _split_rows(item: _Item) -> bool:
    """A loss-tolerant item holding several rows (its rows can be retried apart)."""
    return item.future is None and isinstance(item.work, _Rows) and len(item.work.rows) > 1


class _Abandoned(Exception):
    """A batch holds a write whose caller has stopped waiting: roll it back."""


class DatabaseUnavailable(Exception):
    """A durable write could not be done in time (the database is down or stalled)."""


# What says "the database cannot be reached or is too slow" rather than "this write is wrong".
# SQLAlchemy's TimeoutError: no pooled connection became free in time (the database is slow).
_UNAVAILABLE = (
    OperationalError,
    InterfaceError,
    TimeoutError,
    PoolTimeout,
    ConnectionError,
    OSError,
)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError | InterfaceError):
        # Data, integrity and programming errors (a PostgreSQL statement timeout is an
        # OperationalError, asyncpg's QueryCanceledError).
        return False
    return isinstance(exc, _UNAVAILABLE)


def _short(exc: BaseException) -> str:
    """The first line of an exception, without SQLAlchemy's statement and parameter dump (the
    parameters may hold a station's payload)."""
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}"
