"""Hot-path reads on PostgreSQL borrow one of a few connections held by the reader
(storage/pg_reads.py): they must stay bounded, survive a server that kills them, and never hand a
connection in an unknown state to the next read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import Csms
from tests.protocol.raw import RawStation
from watthub.storage import tags_repo
from watthub.storage.pg_reads import PgReader

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def _backend_pid(conn: Any) -> int:
    return int(await conn.scalar(text("SELECT pg_backend_pid()")))


async def test_reads_share_a_bounded_set_of_connections(csms: Csms) -> None:
    await csms.add_tag("TAG1")
    reader = PgReader(csms.hub.services.engine, size=2)
    try:
        seen: set[int] = set()

        async def work(conn: Any) -> Any:
            seen.add(await _backend_pid(conn))
            await asyncio.sleep(0.01)  # hold it: the others must wait, not open more
            return await tags_repo.get_tag(conn, "tag1")  # a Prepared statement, on asyncpg

        found = await asyncio.gather(*(reader.read(work) for _ in range(12)))
        assert all(tag is not None and tag["id_tag"] == "TAG1" for tag in found)
        assert len(seen) == 2, seen
        assert await reader.read(lambda conn: tags_repo.get_tag(conn, "nobody")) is None
    finally:
        await reader.close()


async def test_a_cancelled_read_drops_its_connection(csms: Csms) -> None:
    reader = PgReader(csms.hub.services.engine, size=1)
    try:
        first = await reader.read(_backend_pid)
        slow = asyncio.create_task(reader.read(lambda c: c.scalar(text("SELECT pg_sleep(5)"))))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # Not reused mid-statement: the next read gets a fresh connection, and answers at once.
        second = await asyncio.wait_for(reader.read(_backend_pid), 3)
        assert second != first
    finally:
        await reader.close()


async def test_a_full_reader_makes_a_read_wait_then_fail_in_bounded_time(csms: Csms) -> None:
    reader = PgReader(csms.hub.services.engine, size=1, wait=0.3)
    try:
        hold = asyncio.create_task(reader.read(lambda c: c.scalar(text("SELECT pg_sleep(1)"))))
        await asyncio.sleep(0.1)
        with pytest.raises(TimeoutError):
            await reader.read(_backend_pid)
        await hold
        assert await reader.read(_backend_pid) > 0  # free again once the first read is done
    finally:
        await reader.close()


async def test_killed_reader_connections_are_replaced(csms: Csms) -> None:
    """The server drops every connection (a restart, an operator's terminate): the reads after
    it open new ones; a station's Authorize is answered from the database again."""
    await csms.add_station("CP1")
    await csms.add_tag("KNOWN1")
    station = await RawStation.open(csms.url("CP1"))
    try:
        await station.boot()
        answer = await station.call("a0", "Authorize", {"idTag": "UNCACHED0"})
        assert answer[2]["idTagInfo"]["status"] == "Invalid"
        async with csms.hub.services.engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert killed >= 2  # at least the writer's and the reader's
        answers = [
            await station.call(f"a{n}", "Authorize", {"idTag": "KNOWN1" if n == 3 else f"U{n}"})
            for n in range(1, 5)
        ]
        # A read on a killed connection may fail once (InternalError: the charger retries);
        # that connection and the idle ones, killed too, are dropped, and the next reads work.
        assert answers[0][0] == 3 or answers[0][2] == "InternalError", answers[0]
        assert [a[2]["idTagInfo"]["status"] for a in answers[1:]] == [
            "Invalid",
            "Accepted",
            "Invalid",
        ], answers
    finally:
        await station.close()
