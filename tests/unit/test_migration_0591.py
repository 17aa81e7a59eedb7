"""Migration 0591: a station's message log is read newest first through (station_id, id), not by
reading the whole log backwards (a quiet station) or sorting all of a station's rows (a busy one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.scratch_db import downgrade, index_names, query_plan, scratch_database
from watthub.storage import db, messages_repo
from watthub.storage.tables import message_log

_AT = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_station_s_messages_are_read_through_the_station_index(
    backend: str, tmp_path: Path
) -> None:
    async with scratch_database(backend, tmp_path, "0591") as (engine, url):
        await db.upgrade(engine, url, "0591")
        async with engine.begin() as conn:
            # A quiet station spoke first, then 20 busy stations 2,000 times; created_at runs
            # against the id for the quiet station (its clock was late), which the listing
            # must not care about.
            rows = [
                {
                    "station_id": "QUIET",
                    "direction": "in",
                    "message_type": 2,
                    "action": "Heartbeat",
                    "message_id": f"q{i}",
                    "payload": "[]",
                    "created_at": _AT - timedelta(days=30, seconds=i),
                }
                for i in range(5)
            ]
            rows += [
                {
                    "station_id": f"BUSY-{i % 20:02d}",
                    "direction": "in",
                    "message_type": 2,
                    "action": "MeterValues",
                    "message_id": f"m{i}",
                    "payload": "[]",
                    "created_at": _AT + timedelta(seconds=i),
                }
                for i in range(2000)
            ]
            await conn.execute(message_log.insert(), rows)
            if backend == "postgres":
                await conn.exec_driver_sql("ANALYZE message_log")
            for station in ("QUIET", "BUSY-07"):
                plan = await query_plan(conn, messages_repo.station_messages(station, limit=50), {})
                assert "ix_message_log_station_id" in plan, plan
                assert "pk_message_log" not in plan, plan  # not the whole log backwards
                assert "TEMP B-TREE" not in plan, plan  # SQLite: in index order, no sort
            listed = await messages_repo.list_messages(conn, "QUIET", limit=3)
            assert [e["message_id"] for e in listed] == ["q4", "q3", "q2"]  # by id, not time
            names = await index_names(conn, "message_log")
            assert "ix_message_log_station_id" in names
            assert "ix_message_log_station_created" not in names

        await downgrade(engine, url, "0581")
        async with engine.connect() as conn:
            names = await index_names(conn, "message_log")
            assert "ix_message_log_station_created" in names
            assert "ix_message_log_station_id" not in names
