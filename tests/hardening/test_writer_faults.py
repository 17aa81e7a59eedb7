"""The batched writer under faults (issue #11 §2): a write the database refuses is isolated without
redoing the batch one write at a time, and a stalled database gives the stations a prompt
``InternalError`` with one log line per problem, not a hang and a traceback per message."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import PG_HOST, PG_PORT, PG_TEST_DB, PG_USER, Csms, start_csms
from tests.protocol.raw import RawStation
from watthub.logs import throttle
from watthub.storage.tables import id_tags
from watthub.timeutil import now_ts, utcnow


async def test_a_refused_write_is_isolated_without_degrading_the_batch(
    csms: Csms, caplog: pytest.LogCaptureFixture
) -> None:
    writer = csms.hub.services.writer
    await csms.add_tag("DUP")  # the one write that will break: a second row with this key

    def insert(tag: str) -> Any:
        async def op(conn: AsyncConnection) -> str:
            await conn.execute(
                id_tags.insert().values(
                    id_tag=tag,
                    id_tag_norm=tag.upper(),
                    status="Accepted",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            return tag

        return op

    tags = [f"T{i:03d}" for i in range(200)]
    tags.insert(137, "DUP")
    throttle._last.clear()
    batches_before = writer.batches
    with caplog.at_level(logging.ERROR, logger="watthub.storage.writer"):
        results = await asyncio.gather(
            *(writer.run(insert(tag)) for tag in tags), return_exceptions=True
        )
    failed = [tag for tag, r in zip(tags, results, strict=True) if isinstance(r, Exception)]
    assert failed == ["DUP"]  # only the bad write fails, every other one is committed
    assert [r for r in results if not isinstance(r, Exception)] == [t for t in tags if t != "DUP"]
    # Halving, not one transaction per write: ~2·log2(201) commits instead of 200.
    commits = writer.batches - batches_before
    assert commits <= 20, commits
    refused = [r for r in caplog.records if "refused a write" in r.getMessage()]
    assert len(refused) == 1
    response = await csms.api.get("/id-tags")
    assert response.status_code == 200
    stored = {t["idTag"] if "idTag" in t else t["id_tag"] for t in response.json()}
    assert set(tags) <= stored


@asynccontextmanager
async def hold_write_lock(backend: str, url: str) -> AsyncIterator[None]:
    """Stall the database for WattHub's writes the way a busy or stuck peer would: another
    connection takes the write lock (SQLite) or an exclusive table lock (PostgreSQL)."""
    if backend == "sqlite":
        conn = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import asyncpg

    pg = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_TEST_DB)
    try:
        tr = pg.transaction()
        await tr.start()
        await pg.execute("LOCK TABLE transactions, id_tags IN ACCESS EXCLUSIVE MODE")
        yield
        await tr.rollback()
    finally:
        await pg.close()


async def test_stalled_database_gives_prompt_internal_error_and_few_log_lines(
    backend: str, tmp_path: Path, tmp_path_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hub, csms = await start_csms(
        backend,
        tmp_path,
        tmp_path_factory,
        db_statement_timeout=1.0,
        db_write_timeout=2.0,
        tag_cache_ttl=0,
    )
    stations: list[RawStation] = []
    try:
        await csms.add_tag("TAG1")
        for i in range(8):
            await csms.add_station(f"ST{i}")
            station = await RawStation.open(csms.url(f"ST{i}"))
            await station.boot()
            stations.append(station)

        def start(i: int, n: int) -> list[Any]:
            payload = {"connectorId": 1, "idTag": "TAG1", "meterStart": n, "timestamp": now_ts()}
            return [2, f"s{i}-{n}", "StartTransaction", payload]

        throttle._last.clear()
        throttle._suppressed.clear()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            async with hold_write_lock(backend, str(hub.services.engine.url)):
                began = time.monotonic()
                answers = []
                for n in range(3):  # each station retries, as chargers do
                    for i, station in enumerate(stations):
                        await station.send(start(i, n))
                    answers += [await station.recv(timeout=15) for station in stations]
                elapsed = time.monotonic() - began
        # Every message answered, InternalError (the charger retries), well within the
        # charger's own 30 s — not a hang for as long as the database is stuck.
        assert {a[2] for a in answers} == {"InternalError"}, answers
        assert len(answers) == 24
        assert elapsed < 3 * 6, elapsed
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        # One line per problem per interval, not one traceback per message.
        assert len(errors) <= 4, [r.getMessage() for r in errors]
        assert not any(r.exc_info for r in errors if "unavailable" in r.getMessage())
        # The database is back: the same message now succeeds.
        answer = await stations[0].call("again", "StartTransaction", start(0, 9)[3])
        assert answer[0] == 3 and answer[2]["idTagInfo"]["status"] == "Accepted", answer
    finally:
        for station in stations:
            await station.close()
        await csms.close_stations()
        await csms.api.aclose()
        await hub.stop()
