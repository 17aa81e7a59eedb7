"""Prepared statements (storage/prepared.py) on the writer's raw SQLite connection store and read
back exactly what SQLAlchemy's own ``conn.execute`` stores and reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from watthub.storage import transactions_repo
from watthub.storage.sqlite_writer import SyncConnectionFacade, sync_sqlite_engine
from watthub.storage.tables import metadata

START = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)


class _Plain:
    """The same connection without the raw path: statements go through SQLAlchemy."""

    def __init__(self, facade: SyncConnectionFacade) -> None:
        self._facade = facade
        self.dialect = facade.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return await self._facade.execute(statement, parameters)


@pytest.fixture
def facade(tmp_path: Path) -> Iterator[SyncConnectionFacade]:
    engine = sync_sqlite_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", "NORMAL")
    metadata.create_all(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN")
        yield SyncConnectionFacade(conn)
        conn.rollback()
    engine.dispose()


async def _start(conn: Any, key: str) -> int:
    return await transactions_repo.insert_transaction(
        conn,
        station_id="CP1",
        connector_id=1,
        id_tag="TAG1",
        id_tag_status="Accepted",
        id_tag_info={"status": "Accepted", "expiryDate": "2027-01-01T00:00:00.000Z"},
        meter_start=100,
        start_time=START,
        reservation_id=None,
        start_key=key,
    )


async def test_raw_and_sqlalchemy_paths_agree(facade: SyncConnectionFacade) -> None:
    plain = _Plain(facade)
    raw_id = await _start(facade, "k1")
    plain_id = await _start(plain, "k2")
    assert plain_id == raw_id + 1
    raw_row = await transactions_repo.get_transaction(facade, raw_id)
    plain_row = await transactions_repo.get_transaction(plain, raw_id)
    assert raw_row == plain_row
    assert raw_row is not None
    assert raw_row["start_time"] == START.replace(tzinfo=None)
    assert raw_row["id_tag_info"] == {
        "status": "Accepted",
        "expiryDate": "2027-01-01T00:00:00.000Z",
    }
    assert raw_row["flags"] == ""  # the server default, not NULL
    other = await transactions_repo.get_transaction(facade, plain_id)
    assert other is not None
    assert {k: v for k, v in other.items() if k not in ("id", "start_key", "created_at")} == {
        k: v for k, v in raw_row.items() if k not in ("id", "start_key", "created_at")
    }

    stopped = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    await transactions_repo.stop_transaction(
        facade, raw_id, meter_stop=900, stop_time=stopped, stop_reason="Local", stop_id_tag=None
    )
    after = await transactions_repo.get_transaction(plain, raw_id)
    assert after is not None
    assert (after["meter_stop"], after["stop_time"], after["stop_reason"]) == (
        900,
        stopped.replace(tzinfo=None),
        "Local",
    )

    # The start look-up: the same start, and the open one as stale for a new start.
    for conn in (facade, plain):
        found = await transactions_repo.start_context(conn, "CP1", 1, "k2", "tag1")
        assert found.same is not None and found.same["id"] == plain_id
        assert found.stale == [] and found.running_elsewhere is False
        fresh = await transactions_repo.start_context(conn, "CP1", 1, "k3", None)
        assert fresh.same is None and [t["id"] for t in fresh.stale] == [plain_id]
        elsewhere = await transactions_repo.start_context(conn, "CP1", 2, "k3", "tag1")
        assert elsewhere.running_elsewhere is True


async def test_driver_errors_are_wrapped_like_sqlalchemy(facade: SyncConnectionFacade) -> None:
    await _start(facade, "same")
    with pytest.raises(IntegrityError):
        await _start(facade, "same")  # the unique start key
