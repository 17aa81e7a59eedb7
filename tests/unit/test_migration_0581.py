"""Migration 0581: a connector's open transaction (asked by every StartTransaction) is found through
a partial index of the open transactions, not by filtering every open transaction of the network;
a stopped transaction leaves that index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.scratch_db import downgrade, index_names, query_plan, scratch_database
from watthub.storage import db, transactions_repo
from watthub.storage.tables import transactions
from watthub.storage.transactions_repo import _OPEN_ON_CONNECTOR

_AT = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_open_transaction_of_a_connector_is_found_by_index(
    backend: str, tmp_path: Path
) -> None:
    async with scratch_database(backend, tmp_path, "0581") as (engine, url):
        await db.upgrade(engine, url, "0581")
        async with engine.begin() as conn:
            # 300 stations with an open transaction each; station 7 also has a stopped one.
            for i in range(301):
                await conn.execute(
                    transactions.insert(),
                    {
                        "station_id": f"CP-{7 if i == 300 else i:04d}",
                        "connector_id": 1,
                        "id_tag": f"TAG-{i:04d}",
                        "id_tag_status": "Accepted",
                        "meter_start": 0,
                        "start_time": _AT - timedelta(hours=2 if i == 300 else 0),
                        "created_at": _AT,
                        "stop_time": _AT - timedelta(hours=1) if i == 300 else None,
                        "start_key": f"k{i}",
                    },
                )
            params = {"station_id": "CP-0007", "connector_id": 1}
            plan = await query_plan(conn, _OPEN_ON_CONNECTOR, params)
            assert "ix_transactions_open_connector" in plan, plan
            # The same answers: station 7's open transaction is the stale one, not the stopped.
            context = await transactions_repo.start_context(conn, "CP-0007", 1, "new", None)
            assert [r["id_tag_status"] for r in context.stale] == ["Accepted"]
            assert context.same is None
            context = await transactions_repo.start_context(conn, "CP-0007", 1, "k7", None)
            assert context.same is not None and context.same["stop_time"] is None
            # Partial: only the open transactions are in it.
            definition = await conn.scalar(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
                    if backend == "postgres"
                    else "SELECT sql FROM sqlite_master WHERE name = :n"
                ),
                {"n": "ix_transactions_open_connector"},
            )
            assert "stop_time IS NULL" in definition, definition
            names = await index_names(conn, "transactions")
            assert "ix_transactions_open_connector" in names
            assert "ix_transactions_open" not in names

        await downgrade(engine, url, "0571")
        async with engine.connect() as conn:
            names = await index_names(conn, "transactions")
            assert "ix_transactions_open" in names
            assert "ix_transactions_open_connector" not in names
