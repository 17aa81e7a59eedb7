"""Group commit with a least interval between commits: while several stations write, writes
arriving right after a commit wait for company; a lone write after a quiet moment never waits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from watthub.storage.sqlite_writer import SQLiteBatchConnection, sync_sqlite_engine
from watthub.storage.tables import id_tags, metadata
from watthub.storage.writer import BatchWriter
from watthub.timeutil import utcnow

INTERVAL = 0.2


def _tag(name: str) -> dict[str, object]:
    now = utcnow()
    return {"id_tag": name, "id_tag_norm": name.casefold(), "created_at": now, "updated_at": now}


async def _writer(tmp_path: Path) -> tuple[BatchWriter, object]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    sync_engine = sync_sqlite_engine(url, "NORMAL")
    metadata.create_all(sync_engine)
    engine = create_async_engine(url)
    writer = BatchWriter(
        engine, sqlite=SQLiteBatchConnection(sync_engine), commit_interval=INTERVAL
    )
    writer.start()
    return writer, engine


async def test_writes_after_a_busy_commit_are_gathered(tmp_path: Path) -> None:
    writer, engine = await _writer(tmp_path)
    try:
        # Two stations at once: one batch (the first write never waits).
        began = time.monotonic()
        await asyncio.gather(*(writer.insert(id_tags, [_tag(f"A{i}")]) for i in range(2)))
        assert time.monotonic() - began < INTERVAL
        assert writer.batches == 1
        # Five more, one after another as they would trickle in: the first waits out the rest
        # of the interval, the others join it, and all of them commit together.
        writes = []
        for i in range(5):
            writes.append(asyncio.ensure_future(writer.insert(id_tags, [_tag(f"B{i}")])))
            await asyncio.sleep(INTERVAL / 20)
        await asyncio.gather(*writes)
        assert time.monotonic() - began >= INTERVAL
        assert writer.batches == 2
        async with engine.connect() as conn:  # type: ignore[attr-defined]
            assert await conn.scalar(select(func.count()).select_from(id_tags)) == 7
    finally:
        await writer.stop()
        await engine.dispose()  # type: ignore[attr-defined]


async def test_a_lone_write_never_waits(tmp_path: Path) -> None:
    writer, engine = await _writer(tmp_path)
    try:
        for i in range(3):  # one station writing alone, each write right after the last commit
            began = time.monotonic()
            await writer.insert(id_tags, [_tag(f"L{i}")])
            assert time.monotonic() - began < INTERVAL / 2
        assert writer.batches == 3
    finally:
        await writer.stop()
        await engine.dispose()  # type: ignore[attr-defined]
