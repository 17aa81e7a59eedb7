"""The writer's batch on PostgreSQL, with its hot statements straight on asyncpg.

Through SQLAlchemy every statement of a batch (each table's coalesced rows, StartTransaction's and
StopTransaction's prepared statements) cost ~80 µs of CPU more than the same statement on asyncpg
itself (greenlet hand-over, execution context, cursor adaption), and BEGIN/COMMIT went the same
way. The writer's connection is therefore put in AUTOCOMMIT for SQLAlchemy, and the transaction is
asyncpg's own (``driver.transaction()``): every statement on that connection runs inside it,
whether it comes through SQLAlchemy (any repository code) or straight through asyncpg (the
coalesced rows, ``storage/prepared.py``). asyncpg's errors are raised as the SQLAlchemy errors
the writer classifies (``writer.is_unavailable``): a broken connection or a cancelled statement is
"database unavailable", a constraint or data error is "this write is refused"."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")

# Errors of the connection or the server's state, not of the statement: the database is
# unavailable for now (the writer fails the batch at once and reconnects).
_UNAVAILABLE = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)
_CONNECTION_LOST = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed", ConnectionDoesNotExistError
    # The protocol is in a state it cannot leave (seen: the server's "terminating connection"
    # read while idle, then "cannot switch to state …" on the next statement).
    asyncpg.exceptions.InternalClientError,
    OSError,
)


def translated(error: Exception, sql: str, params: Any) -> Exception:
    """An asyncpg error as the SQLAlchemy error SQLAlchemy itself would have raised."""
    if isinstance(error, sa_exc.SQLAlchemyError):
        return error
    if isinstance(error, _UNAVAILABLE):
        return sa_exc.OperationalError(
            sql, params, error, connection_invalidated=isinstance(error, _CONNECTION_LOST)
        )
    if isinstance(error, asyncpg.exceptions.IntegrityConstraintViolationError):
        return sa_exc.IntegrityError(sql, params, error)
    if isinstance(error, asyncpg.exceptions.DataError):
        return sa_exc.DataError(sql, params, error)
    if isinstance(error, asyncpg.exceptions.PostgresError):
        return sa_exc.ProgrammingError(sql, params, error)
    return error


class PgBatchConnection:
    """What a batch's operations (and a hot-path read, ``pg_reads.py``) get on PostgreSQL: the
    SQLAlchemy connection (every attribute is passed through) and, as ``pg_driver``, the asyncpg
    connection under it."""

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        self._conn = conn
        self.pg_driver = driver
        self.dialect = conn.dialect

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            await self.pg_driver.executemany(sql, rows)
        except Exception as error:
            raise translated(error, sql, rows[:1]) from error

    async def fetch(self, sql: str, values: tuple[Any, ...]) -> list[Any]:
        try:
            return await self.pg_driver.fetch(sql, *values)  # type: ignore[no-any-return]
        except Exception as error:
            raise translated(error, sql, values) from error

    async def execute_raw(self, sql: str, values: tuple[Any, ...]) -> None:
        try:
            await self.pg_driver.execute(sql, *values)
        except Exception as error:
            raise translated(error, sql, values) from error


async def open_autocommit(engine: Any) -> AsyncConnection:
    """A connection held for long (the writer's, the hot-path reader's): AUTOCOMMIT for
    SQLAlchemy, so that it never opens a transaction of its own inside the batch's asyncpg
    transaction, and a read is one round trip."""
    for attempt in (1, 2):
        conn: AsyncConnection = await engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            # Through SQLAlchemy once: a pooled connection that died with the server is found
            # here, and SQLAlchemy then drops the whole pool (the batches and reads themselves
            # no longer pass its checks), so a second attempt gets a new connection.
            await conn.exec_driver_sql("SELECT 1")
        except sa_exc.DBAPIError as exc:
            await conn.close()
            if attempt == 2 or not exc.connection_invalidated:
                raise
            continue
        return conn
    raise AssertionError("unreachable")


async def driver_of(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn`` (looked up once per held connection: through
    SQLAlchemy it is a greenlet hand-over each time)."""
    return (await conn.get_raw_connection()).driver_connection


async def in_transaction(
    conn: AsyncConnection, driver: Any, work: Callable[[PgBatchConnection], Awaitable[T]]
) -> T:
    """``work`` inside one asyncpg transaction on ``driver``, the connection under ``conn``."""
    try:
        transaction = driver.transaction()
        await transaction.start()
    except Exception as error:
        raise translated(error, "BEGIN", ()) from error
    try:
        result = await work(PgBatchConnection(conn, driver))
    except BaseException:
        if not driver.is_closed():
            # A failing rollback leaves a connection the writer drops anyway.
            with contextlib.suppress(Exception):
                await transaction.rollback()
        raise
    try:
        await transaction.commit()
    except Exception as error:
        raise translated(error, "COMMIT", ()) from error
    return result
