"""Migration 0511 (transaction integrity) upgrades a database that holds the duplicates an older
WattHub stored: the new unique keys are NULL for old rows, and NULLs never conflict."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.scratch_db import scratch_database
from watthub.storage import db

_TX = (
    "INSERT INTO transactions (station_id, connector_id, id_tag, id_tag_status, meter_start,"
    " start_time, flags, created_at) VALUES ('CP1', 1, 'TAG1', 'Accepted', 100,"
    " '2026-01-01 10:00:00', '', '2026-01-01 10:00:01')"
)
_MV = (
    "INSERT INTO meter_values (station_id, connector_id, transaction_id, timestamp, value, source)"
    " VALUES ('CP1', 1, 1, '2026-01-01 10:05:00', '150', 'MeterValues')"
)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_upgrade_keeps_old_duplicates_and_dedups_new_rows(
    backend: str, tmp_path: Path
) -> None:
    async with scratch_database(backend, tmp_path, "0511") as (engine, url):
        await db.upgrade(engine, url, "0401")
        async with engine.begin() as conn:
            for statement in (_TX, _TX, _MV, _MV):  # what a redelivery stored before the fix
                await conn.execute(text(statement))
        await db.upgrade(engine, url, "0521")  # the per-sample table (0531 replaces it)
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM transactions"))).scalar() == 2
            row: dict[str, Any] = {
                "station_id": "CP1",
                "connector_id": 1,
                "transaction_id": 1,
                "timestamp": datetime(2026, 1, 1, 10, 6, tzinfo=UTC),
                "value": "175",
                "source": "MeterValues",
                "sample_key": 42,
            }
            insert = text(
                "INSERT INTO meter_values (station_id, connector_id, transaction_id, timestamp,"
                " value, source, sample_key) VALUES (:station_id, :connector_id,"
                " :transaction_id, :timestamp, :value, :source, :sample_key)"
                " ON CONFLICT DO NOTHING"
            )
            await conn.execute(insert, [row, row])  # the new key works: stored once
            count = await conn.execute(text("SELECT count(*) FROM meter_values"))
            assert count.scalar() == 3
