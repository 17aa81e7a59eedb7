"""Migration 0541 (message exchanges): rows written before it stay readable as single frames, and
the downgrade splits every exchange row back into its two frames."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.scratch_db import downgrade, scratch_database
from watthub.storage import db, messages_repo
from watthub.storage.tables import message_log

_OLD = (
    "INSERT INTO message_log (station_id, direction, message_type, action, message_id, payload,"
    " created_at) VALUES ('CP1', 'in', 2, 'Heartbeat', 'old-1', '[2,\"old-1\",\"Heartbeat\",{}]',"
    " '2026-01-01 10:00:00'), ('CP1', 'out', 3, 'Heartbeat', 'old-1',"
    ' \'[3,"old-1",{"currentTime":"x"}]\', \'2026-01-01 10:00:00.002\')'
)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_old_rows_read_as_before_and_downgrade_splits_exchanges(
    backend: str, tmp_path: Path
) -> None:
    async with scratch_database(backend, tmp_path, "0541") as (engine, url):
        await db.upgrade(engine, url, "0531")
        async with engine.begin() as conn:
            await conn.execute(text(_OLD))
        await db.upgrade(engine, url, "0541")
        async with engine.begin() as conn:
            entries = await messages_repo.list_messages(conn, "CP1")
            assert [(e["id"], e["direction"], e["message_id"]) for e in entries] == [
                (4, "out", "old-1"),
                (2, "in", "old-1"),
            ]
            await conn.execute(
                message_log.insert().values(
                    station_id="CP1",
                    direction="in",
                    message_type=2,
                    action="Heartbeat",
                    message_id="new-1",
                    payload='[2,"new-1","Heartbeat",{}]',
                    created_at=datetime(2026, 1, 2, 10, 0, 0, 500000, tzinfo=UTC),
                    answer_type=3,
                    answer_payload='[3,"new-1",{}]',
                    answer_delay_us=1_750_250,
                )
            )
            entries = await messages_repo.list_messages(conn, "CP1")
            assert [(e["id"], e["direction"], e["message_type"]) for e in entries][:2] == [
                (7, "out", 3),
                (6, "in", 2),
            ]
            assert entries[0]["created_at"].replace(tzinfo=None) == datetime(
                2026, 1, 2, 10, 0, 2, 250250
            )
        await downgrade(engine, url, "0531")
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT direction, message_type, message_id, payload, created_at"
                        " FROM message_log ORDER BY id"
                    )
                )
            ).all()
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("in", 2, "old-1"),
            ("out", 3, "old-1"),
            ("in", 2, "new-1"),
            ("out", 3, "new-1"),
        ]
        assert rows[3][3] == '[3,"new-1",{}]'
        answered = rows[3][4]
        if isinstance(answered, str):
            answered = datetime.fromisoformat(answered)
        assert answered.replace(tzinfo=None) == datetime(2026, 1, 2, 10, 0, 2, 250250)
