"""The writer's one timer for write timeouts: a durable write not taken in time fails with
``DatabaseUnavailable``, is never committed afterwards, and does not hold up later writes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from watthub.storage.sqlite_writer import SQLiteBatchConnection, sync_sqlite_engine
from watthub.storage.tables import id_tags, metadata
from watthub.storage.writer import BatchWriter, DatabaseUnavailable
from watthub.timeutil import utcnow


def _tag(name: str) -> dict[str, object]:
    now = utcnow()
    return {"id_tag": name, "id_tag_norm": name.casefold(), "created_at": now, "updated_at": now}


async def test_overdue_write_fails_and_is_not_committed_later(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    sync_engine = sync_sqlite_engine(url, "NORMAL")
    metadata.create_all(sync_engine)
    engine = create_async_engine(url)
    writer = BatchWriter(engine, sqlite=SQLiteBatchConnection(sync_engine), write_timeout=0.4)
    writer.start()
    blocker = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        began = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            await writer.insert(id_tags, [_tag("LATE")])
        waited = time.monotonic() - began
        assert 0.4 <= waited < 10, waited  # the write timeout, not the 30 s lock wait
        blocker.execute("ROLLBACK")
        await asyncio.wait_for(writer.insert(id_tags, [_tag("NEXT")]), 5)
        stored = {row[0] for row in blocker.execute("SELECT id_tag FROM id_tags")}
        assert stored == {"NEXT"}  # the caller was answered an error: its write never lands
        assert writer.failures == 0  # a timeout is not a refused write
    finally:
        blocker.close()
        await writer.stop()
        await engine.dispose()
