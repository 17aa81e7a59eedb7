"""Migration 0571: the meter readings' redelivery key leads with the reading's time (readings of
many stations arriving at once share its newest leaves); what counts as the same reading does not
change, so a redelivered reading is still skipped, before and after the migration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.scratch_db import downgrade, scratch_database
from watthub.storage import db, transactions_repo
from watthub.storage.tables import meter_readings

COLUMNS = ("station_id", "connector_id", "transaction_id", "timestamp", "source", "reading_key")
COLUMNS += ("sampled_values",)


def _row(station: str, key: int) -> tuple[Any, ...]:
    at = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    return (station, 1, None, at, "MeterValues", key, '[{"value":"1"}]')


async def _key_columns(conn: AsyncConnection) -> list[str]:
    def read(sync: Any) -> list[str]:
        found = inspect(sync).get_indexes("meter_readings")
        return next(i["column_names"] for i in found if i["name"] == "ux_meter_readings_key")

    return await conn.run_sync(read)


async def _store(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> int:
    await transactions_repo.insert_meter_readings(conn, COLUMNS, rows)
    return len((await conn.execute(select(meter_readings.c.id))).all())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_readings_are_keyed_by_time_first_and_still_deduplicated(
    backend: str, tmp_path: Path
) -> None:
    async with scratch_database(backend, tmp_path, "0571") as (engine, url):
        await db.upgrade(engine, url, "0571")
        async with engine.begin() as conn:
            assert await _key_columns(conn) == ["timestamp", "station_id", "reading_key"]
            assert await _store(conn, [_row("CP1", 7), _row("CP2", 7)]) == 2
            # The same reading again (a redelivered MeterValues): nothing new.
            assert await _store(conn, [_row("CP1", 7)]) == 2
        await downgrade(engine, url, "0561")
        async with engine.begin() as conn:
            assert await _key_columns(conn) == ["station_id", "timestamp", "reading_key"]
            assert await _store(conn, [_row("CP2", 7), _row("CP2", 8)]) == 3
