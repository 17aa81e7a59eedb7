"""The writer's own SQLite connection: one thread hop per batch instead of several per statement.

Through aiosqlite every statement is a round trip to a worker thread (a cursor, the execute, the
fetch, the close), and the profile of the message path was dominated by those hops. SQLite work on
a warm page cache takes microseconds, so the writer runs a batch's statements synchronously on the
event loop and hands only the COMMIT — the fsync — to a thread.

Blocking safely: the batch starts with ``BEGIN IMMEDIATE`` with no busy wait. If another
connection (the API writing through the async engine) holds the write lock, the writer does not
block the loop: it backs off asynchronously and tries again. Once it holds the lock, no statement
of the batch can wait for another writer (WAL readers never block)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError

from watthub.storage.fast_rows import raw_sqlite

T = TypeVar("T")

_MAX_BACKOFF = 0.05


# WAL pages after which the writer's commit copies them into the database (SQLite's default is
# 1,000). The commit that does it keeps its stations waiting: at 4,250 msg/s (~72 pages a
# commit) a checkpoint of 1,000 pages made 8 % of the commits take 7-9 ms instead of 0.7,
# the p99 of every durable answer 14-16 ms. At 300 the p99 was 11 ms for the same CPU within
# noise (at 8,000 msg/s too); at 200 the CPU rose, at 10,000 the p99 (docs/benchmarks.md).
WAL_AUTOCHECKPOINT = 300


def sync_sqlite_engine(url: str, synchronous: str, pool_size: int = 1) -> Engine:
    """A pysqlite engine on the same file as the async ``url`` (``sqlite+aiosqlite:///…``)."""
    parsed = make_url(url).set(drivername="sqlite")
    engine = create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": 0},
        pool_size=pool_size,
        max_overflow=0,
    )

    @event.listens_for(engine, "connect")
    def _setup(dbapi_conn: Any, _record: Any) -> None:
        # Transactions are ours (BEGIN IMMEDIATE below), not the driver's implicit ones.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        cursor.close()

    return engine


class SyncConnectionFacade:
    """Gives writer operations (written against ``AsyncConnection``) a synchronous connection:
    ``await conn.execute(...)`` returns the same buffered result, computed without a thread hop."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect
        # The sqlite3 connection itself, for statements prepared by ``storage/prepared.py``.
        self.raw_sqlite = conn.connection.dbapi_connection

    async def execute(self, statement: Any, parameters: Any = None, **kw: Any) -> Any:
        return self._conn.execute(statement, parameters, **kw)

    async def exec_driver_sql(self, sql: str, parameters: Any = None) -> Any:
        return self._conn.exec_driver_sql(sql, parameters)

    async def scalar(self, statement: Any, parameters: Any = None, **kw: Any) -> Any:
        return self._conn.scalar(statement, parameters, **kw)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        return fn(self._conn, *args, **kw)


class SQLiteBatchConnection:
    def __init__(self, engine: Engine, busy_timeout: float = 30.0) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._busy_timeout = busy_timeout

    async def transaction(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work(facade)`` inside BEGIN IMMEDIATE … COMMIT; the commit runs in a thread.

        BEGIN and COMMIT go to the sqlite3 connection itself: through SQLAlchemy they cost more
        than the statements they bracket (with the driver's ``isolation_level=None`` SQLAlchemy
        issues neither; its own bookkeeping is closed after the commit when a statement of the
        batch went through it)."""
        conn = self._connect()
        raw = conn.connection.dbapi_connection
        assert raw is not None
        delay = 0.001
        # Bounded like any statement: a lock held for ever (a stuck process on the same file)
        # gives the waiting stations a prompt error, not a hang.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                raw_sqlite(raw.execute, "BEGIN IMMEDIATE")
                break
            except OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(delay)  # another writer has the lock: wait without blocking
                delay = min(delay * 2, _MAX_BACKOFF)
        try:
            result = await work(SyncConnectionFacade(conn))
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, raw_sqlite, raw.execute, "COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.rollback()
            if conn.in_transaction():
                conn.rollback()
            raise
        if conn.in_transaction():
            conn.commit()
        return result

    def _connect(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect()
        return self._conn

    def reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()


class SQLiteReader:
    """Hot-path reads (a station at its handshake, an id tag on a cache miss) on the event loop.

    In WAL mode a read never waits for a writer, and on a warm page cache it takes microseconds,
    far less than the thread hops of an aiosqlite read. Each call is its own short read
    transaction, so it sees everything committed before it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    async def read(self, work: Callable[[Any], Awaitable[T]]) -> T:
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect()
        try:
            return await work(SyncConnectionFacade(self._conn))
        finally:
            self._conn.rollback()  # end the read transaction: the next read sees new commits

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()
