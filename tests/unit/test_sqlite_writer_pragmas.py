"""The SQLite writer's own connection: WAL, the durability asked for, and its checkpoints kept
short (``sqlite_writer.WAL_AUTOCHECKPOINT``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from watthub.storage.sqlite_writer import WAL_AUTOCHECKPOINT, sync_sqlite_engine


@pytest.mark.parametrize(("synchronous", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_the_writer_connection_is_wal_durable_and_checkpoints_early(
    tmp_path: Path, synchronous: str, level: int
) -> None:
    engine = sync_sqlite_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", synchronous)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == level
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == WAL_AUTOCHECKPOINT
            assert WAL_AUTOCHECKPOINT < 1000  # shorter than SQLite's default
    finally:
        engine.dispose()
