"""The hourly message-log purge: entries past the retention go, in short writes found through the
primary key (a scan of a month's log held the writer, and on SQLite the event loop, for the whole
delete), and nothing younger is touched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import Csms
from watthub.storage import messages_repo
from watthub.storage.tables import message_log
from watthub.timeutil import utcnow


def _rows(n: int, age: timedelta, tag: str) -> list[dict[str, Any]]:
    start = utcnow() - age
    return [
        {
            "station_id": f"CP{i % 7}",
            "direction": "in",
            "message_type": 2,
            "action": "Heartbeat",
            "message_id": f"{tag}-{i}",
            "payload": "[]",
            "created_at": start + timedelta(seconds=i),
        }
        for i in range(n)
    ]


async def test_purge_removes_old_entries_in_short_writes(
    csms: Csms, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = csms.hub
    retention = hub.settings.message_log_retention_days
    engine = hub.services.engine
    assert await hub.purge_message_log(chunk=100, pause=0) == 0  # an empty log
    async with engine.begin() as conn:
        await conn.execute(message_log.insert(), _rows(2_345, timedelta(days=retention + 9), "old"))
        await conn.execute(message_log.insert(), _rows(40, timedelta(days=retention - 1), "young"))

    chunks: list[int] = []
    real = messages_repo.purge_chunk

    async def counted(conn: Any, start: int, stop: int, cutoff: Any) -> int:
        removed = await real(conn, start, stop, cutoff)
        chunks.append(removed)
        return removed

    monkeypatch.setattr(messages_repo, "purge_chunk", counted)
    assert await hub.purge_message_log(chunk=1_000, pause=0) == 2_345
    assert chunks == [1_000, 1_000, 345]  # one short write each, never the whole log
    async with engine.connect() as conn:
        left = (await conn.execute(select(message_log.c.message_id))).scalars().all()
    assert sorted(left) == sorted(f"young-{i}" for i in range(40))
    assert await hub.purge_message_log(chunk=1_000, pause=0) == 0  # nothing old is left


async def test_a_purge_range_never_removes_younger_rows(csms: Csms) -> None:
    """An exchange is stored when it is answered, so a row received before the cutoff can come
    after younger ones: deleting by id alone would take them too."""
    retention = csms.hub.settings.message_log_retention_days
    cutoff = utcnow() - timedelta(days=retention)
    async with csms.hub.services.engine.begin() as conn:
        await conn.execute(message_log.insert(), _rows(3, timedelta(days=retention + 2), "old"))
        await conn.execute(message_log.insert(), _rows(4, timedelta(days=retention - 2), "young"))
        await conn.execute(message_log.insert(), _rows(1, timedelta(days=retention + 1), "late"))
        ids = (await conn.execute(select(func.max(message_log.c.id)))).scalar_one()
        assert await messages_repo.purge_boundary(conn, cutoff) is not None
        assert await messages_repo.purge_chunk(conn, 1, ids, cutoff) == 4
        left = (await conn.execute(select(message_log.c.message_id))).scalars().all()
    assert sorted(left) == sorted(f"young-{i}" for i in range(4))
