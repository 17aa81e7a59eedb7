"""Migration 0561: a station's active reservations (asked on every StartTransaction) are found by
station and status, neither among the whole network's active ones nor the station's past ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.scratch_db import downgrade, index_names, query_plan, scratch_database
from watthub.storage import db, reservations_repo
from watthub.storage.reservations_repo import _ACTIVE_FOR
from watthub.storage.tables_reservation import reservations
from watthub.timeutil import utcnow


def _reservation(n: int, station: str, status: str) -> dict[str, object]:
    now = utcnow()
    return {
        "reservation_id": n,
        "station_id": station,
        "connector_id": 1,
        "id_tag": f"TAG{n}",
        "expiry_date": now + timedelta(hours=1),
        "status": status,
        "created_at": now,
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_active_reservations_of_a_station_are_found_by_index(
    backend: str, tmp_path: Path
) -> None:
    async with scratch_database(backend, tmp_path, "0561") as (engine, url):
        await db.upgrade(engine, url, "0561")
        async with engine.begin() as conn:
            rows = [_reservation(n, f"CP{n:03d}", "active") for n in range(200)]
            rows += [_reservation(1000 + n, "CP007", "used") for n in range(50)]
            await conn.execute(reservations.insert(), rows)
            plan = await query_plan(conn, _ACTIVE_FOR.statement, {"station_id": "CP007"})
            assert "ix_reservations_station_status" in plan, plan
            active = await reservations_repo.active_for(conn, "CP007")
            assert [r["reservation_id"] for r in active] == [7]
        await downgrade(engine, url, "0551")
        async with engine.connect() as conn:
            assert "ix_reservations_station_status" not in await index_names(conn, "reservations")
