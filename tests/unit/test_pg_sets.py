"""PostgreSQL: a batch's row inserts as one ``unnest`` statement keep what one ``executemany``
per table did — a redelivered reading is skipped, a connector's status only moves forward, a key
repeated in one batch still applies in order — and whatever cannot keep it is left out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.support.scratch_db import scratch_database
from watthub.domain.core import METER_COLUMNS
from watthub.server.message_log import COLUMNS
from watthub.storage import db, pg_sets, stations_repo, transactions_repo
from watthub.storage.tables import connectors, message_log, meter_readings, stations, status_history
from watthub.storage.writer import BatchWriter

T0 = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
UPSERT = stations_repo.current_status_upsert("postgresql")
READINGS = transactions_repo.meter_readings_insert("postgresql")


def _log(message_id: str) -> tuple[Any, ...]:
    return ("CP1", "in", 2, "Heartbeat", message_id, "[]", T0, 3, "{}", 5)


def _reading(station: str, key: int) -> tuple[Any, ...]:
    return (station, 1, None, T0, "MeterValues", key, '[{"value":"1"}]')


def _status(station: str, status: str, at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    return stations_repo.status_rows(station, 1, status, "NoError", at)


def test_what_is_combined() -> None:
    _history, current = _status("CP1", "Charging", T0)
    cols = tuple(current)
    row = tuple(current.values())
    other = tuple(_status("CP2", "Charging", T0)[1].values())
    mark = (stations_repo.MARK_CONNECTED, ("sid", "since", "node", "seen"), [("CP1", T0, "a", T0)])
    assert pg_sets.combinable(
        [(message_log, COLUMNS, [_log("a")]), (UPSERT, cols, [row, other]), mark]
    ) == [True, True, False]
    # One connector twice in a batch: the upsert must run row by row, in order.
    assert pg_sets.combinable([(UPSERT, cols, [row, row])]) == [False]
    # Two targets of one table (a CTE does not see the other's rows): neither is combined.
    auto = stations_repo.auto_register_insert("postgresql")
    assert pg_sets.combinable([(auto, ("id",), [("CP9",)]), mark]) == [False, False]


async def test_a_batch_of_rows_is_one_statement_with_executemany_semantics(
    tmp_path: Path,
) -> None:
    async with scratch_database("postgres", tmp_path, "pgsets") as (engine, url):
        await db.upgrade(engine, url)
        async with engine.begin() as conn:
            for sid in ("CP1", "CP2"):
                await conn.execute(
                    stations.insert().values(
                        id=sid, boot_policy="Accepted", security_profile=0, created_at=T0
                    )
                )
        writer = BatchWriter(engine)
        newer, older = (
            _status("CP1", "Charging", T0),
            _status("CP1", "Preparing", T0 - timedelta(1)),
        )
        cp2 = _status("CP2", "Faulted", T0)
        # Queued before the writer starts: one batch.
        for n in range(3):
            writer.post_tuple(message_log, COLUMNS, _log(f"m{n}"))
        writes = [
            # The same reading twice in one batch (a redelivery): stored once.
            writer.insert_tuples(READINGS, METER_COLUMNS, [_reading("CP1", 7), _reading("CP1", 7)]),
            writer.insert_tuples(READINGS, METER_COLUMNS, [_reading("CP2", 7)]),
            writer.insert_pair((status_history, [newer[0]]), (UPSERT, [newer[1]])),
            # Older than the one before it, same connector: history kept, status not moved back.
            writer.insert_pair((status_history, [older[0]]), (UPSERT, [older[1]])),
            writer.insert_pair((status_history, [cp2[0]]), (UPSERT, [cp2[1]])),
        ]
        tasks = [asyncio.ensure_future(w) for w in writes]
        await asyncio.sleep(0)
        writer.start()
        try:
            await asyncio.gather(*tasks)
            assert writer.batches == 1
            async with engine.connect() as conn:
                logged = (await conn.execute(select(message_log.c.message_id))).scalars().all()
                readings = (await conn.execute(select(meter_readings.c.station_id))).all()
                history = (await conn.execute(select(status_history.c.status))).scalars().all()
                current = dict(
                    (await conn.execute(select(connectors.c.station_id, connectors.c.status))).all()
                )
            assert sorted(logged) == ["m0", "m1", "m2"]
            assert sorted(r[0] for r in readings) == ["CP1", "CP2"]
            assert sorted(history) == ["Charging", "Faulted", "Preparing"]
            assert current == {"CP1": "Charging", "CP2": "Faulted"}
        finally:
            await writer.stop()


async def test_a_refused_row_costs_only_itself(tmp_path: Path) -> None:
    """The one statement fails as a whole; the writer's halving still finds the bad row."""
    async with scratch_database("postgres", tmp_path, "pgsets2") as (engine, url):
        await db.upgrade(engine, url)
        writer = BatchWriter(engine)
        for n in range(5):
            row = _log(f"m{n}")
            writer.post_tuple(message_log, COLUMNS, (*row[:5], None, *row[6:]) if n == 2 else row)
        writer.start()
        await writer.stop()
        async with engine.connect() as conn:
            logged = (await conn.execute(select(message_log.c.message_id))).scalars().all()
        assert sorted(logged) == ["m0", "m1", "m3", "m4"]
        assert writer.isolations >= 1
