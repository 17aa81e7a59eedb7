"""Migration 0551: the StartTransaction concurrency check ("does this idTag charge elsewhere?") finds
the tag's open transactions through an index instead of reading every open transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.scratch_db import downgrade, index_names, query_plan, scratch_database
from watthub.storage import db, transactions_repo
from watthub.storage.tables import transactions
from watthub.storage.transactions_repo import _RUNNING_ELSEWHERE

_AT = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
_PARAMS = {"norm": "tag-0042", "station_id": "CP-0001", "connector_id": 1}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_open_transactions_of_a_tag_are_found_by_index(backend: str, tmp_path: Path) -> None:
    async with scratch_database(backend, tmp_path, "0551") as (engine, url):
        await db.upgrade(engine, url, "0551")
        async with engine.begin() as conn:
            # 300 open transactions on 300 stations, one stopped on the tag asked about.
            for i in range(300):
                await conn.execute(
                    transactions.insert(),
                    {
                        "station_id": f"CP-{i:04d}",
                        "connector_id": 1,
                        "id_tag": f"TAG-{i:04d}",
                        "id_tag_status": "Accepted",
                        "meter_start": 0,
                        "start_time": _AT,
                        "created_at": _AT,
                        "stop_time": _AT + timedelta(hours=1) if i == 43 else None,
                    },
                )
            plan = await query_plan(conn, select(_RUNNING_ELSEWHERE), _PARAMS)
            assert "ix_transactions_open_tag" in plan, plan
            # The same answers as before: the tag of station 42 (any case) runs elsewhere, the
            # stopped one and the asking connector's own do not count.
            context = await transactions_repo.start_context(conn, "CP-0001", 1, "k", "tag-0042")
            assert context.running_elsewhere
            context = await transactions_repo.start_context(conn, "CP-0001", 1, "k", "tag-0043")
            assert not context.running_elsewhere
            context = await transactions_repo.start_context(conn, "CP-0042", 1, "k", "tag-0042")
            assert not context.running_elsewhere
            assert "ix_transactions_open_tag" in await index_names(conn, "transactions")

        await downgrade(engine, url, "0541")
        async with engine.connect() as conn:
            assert "ix_transactions_open_tag" not in await index_names(conn, "transactions")
