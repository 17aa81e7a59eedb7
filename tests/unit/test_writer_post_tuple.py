"""Loss-tolerant tuple rows (the message log): the rows posted before a commit share one queued
item, and a row the database refuses costs only itself."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from watthub.server.message_log import COLUMNS
from watthub.storage.sqlite_writer import SQLiteBatchConnection, sync_sqlite_engine
from watthub.storage.tables import message_log, metadata
from watthub.storage.writer import BatchWriter


def _row(message_id: str, payload: str | None = "[]") -> tuple[object, ...]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return ("CP1", "in", 2, "Heartbeat", message_id, payload, at, 3, "[]", 5)


async def test_buffered_rows_share_an_item_and_a_bad_row_is_isolated(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    sync_engine = sync_sqlite_engine(url, "NORMAL")
    metadata.create_all(sync_engine)
    engine = create_async_engine(url)
    writer = BatchWriter(engine, sqlite=SQLiteBatchConnection(sync_engine))
    writer.start()
    try:
        for n in range(7):
            # Row 3 breaks NOT NULL: the database refuses it, the six others are kept.
            writer.post_tuple(message_log, COLUMNS, _row(f"m-{n}", None if n == 3 else "[]"))
        assert writer.backlog == 1
        await writer.stop()
        with sqlite3.connect(tmp_path / "w.db") as conn:
            stored = [r[0] for r in conn.execute("SELECT message_id FROM message_log ORDER BY id")]
            stamp = conn.execute("SELECT created_at FROM message_log LIMIT 1").fetchone()[0]
        assert stored == [f"m-{n}" for n in range(7) if n != 3]
        assert stamp == "2026-01-01 00:00:00.000000"
        assert writer.isolations >= 1
    finally:
        await writer.stop()
        await engine.dispose()
