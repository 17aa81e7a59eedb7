"""Migration 0601: a station's status history is read newest first through (station_id, id), and
the overview's recent faults through an index of the faults only — neither by reading every
status ever stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.scratch_db import downgrade, index_names, query_plan, scratch_database
from watthub.storage import console_repo, db, stations_repo
from watthub.storage.tables import status_history

_AT = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def _status(station: str, i: int, status: str = "Available", error: str = "NoError") -> dict:
    at = _AT + timedelta(seconds=i)
    return {
        "station_id": station,
        "connector_id": 1,
        "status": status,
        "error_code": error,
        "status_at": at,
        "received_at": at,
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_station_history_and_faults_are_read_through_their_indexes(
    backend: str, tmp_path: Path
) -> None:
    async with scratch_database(backend, tmp_path, "0601") as (engine, url):
        await db.upgrade(engine, url, "0601")
        async with engine.begin() as conn:
            # A quiet station first, then 3,000 statuses of 30 busy stations, three of them
            # faults (one Faulted, one an error code on an Available connector).
            rows = [_status("QUIET", i) for i in range(3)]
            rows += [_status(f"BUSY-{i % 30:02d}", 10 + i) for i in range(3000)]
            rows[500] = _status("BUSY-02", 600, "Faulted", "GroundFailure")
            rows[1500] = _status("BUSY-05", 1600, "Available", "HighTemperature")
            rows[2500] = _status("BUSY-09", 2600, "Faulted", "OtherError")
            await conn.execute(status_history.insert(), rows)
            if backend == "postgres":
                await conn.exec_driver_sql("ANALYZE status_history")
            for station in ("QUIET", "BUSY-07"):
                plan = await query_plan(conn, stations_repo.status_history_query(station, 50), {})
                assert "ix_status_history_station" in plan, plan
                assert "pk_status_history" not in plan, plan
                assert "TEMP B-TREE" not in plan, plan
            plan = await query_plan(conn, console_repo.recent_faults(20), {})
            assert "ix_status_history_faults" in plan, plan
            history = await stations_repo.status_history_for(conn, "QUIET", 2)
            assert [h["status_at"].second for h in history] == [2, 1]
            events = await console_repo.recent_events(conn)
            faults = [e["stationId"] for e in events if e["kind"] == "fault"]
            assert faults == ["BUSY-09", "BUSY-05", "BUSY-02"]
            names = await index_names(conn, "status_history")
            assert {"ix_status_history_station", "ix_status_history_faults"} <= names
            assert "ix_status_history_station_id" not in names

        await downgrade(engine, url, "0591")
        async with engine.connect() as conn:
            names = await index_names(conn, "status_history")
            assert "ix_status_history_station_id" in names
            assert not {"ix_status_history_station", "ix_status_history_faults"} & names
