"""What the integrity tests compare: the transactions and meter values WattHub stored."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.conftest import Csms
from watthub.storage import transactions_repo
from watthub.storage.tables import transactions


async def stored_transactions(csms: Csms, station_id: str | None = None) -> list[dict[str, Any]]:
    stmt = select(transactions).order_by(transactions.c.id)
    if station_id is not None:
        stmt = stmt.where(transactions.c.station_id == station_id)
    async with csms.hub.services.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(stmt)]


async def meter_row_count(csms: Csms, station_id: str) -> int:
    """How many sampled values of the station are stored."""
    async with csms.hub.services.engine.connect() as conn:
        return len(await transactions_repo.meter_values_for(conn, station_id=station_id))


def flags(tx: dict[str, Any]) -> list[str]:
    return [f for f in (tx["flags"] or "").split(",") if f]


class WriteLock:
    """Another database client holding the lock WattHub's writer needs to store a transaction:
    a database stall, from the outside, on either backend."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None

    async def __aenter__(self) -> WriteLock:
        if self.url.startswith("sqlite"):
            path = self.url.split(":///", 1)[1]
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("BEGIN IMMEDIATE")
        else:
            import asyncpg

            parsed = make_url(self.url)
            self._conn = await asyncpg.connect(
                host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
            )
            await self._conn.execute("BEGIN")
            # Reads go on; an INSERT waits (EXCLUSIVE conflicts with ROW EXCLUSIVE).
            await self._conn.execute("LOCK TABLE transactions IN EXCLUSIVE MODE")
        return self

    async def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        if isinstance(conn, sqlite3.Connection):
            conn.execute("ROLLBACK")
            conn.close()
        else:
            await conn.execute("ROLLBACK")
            await conn.close()

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
