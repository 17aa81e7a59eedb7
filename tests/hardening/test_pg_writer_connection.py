"""The writer's PostgreSQL batches run on asyncpg directly (storage/pg_batch.py): its errors must
still read as SQLAlchemy's, so the writer tells "database unavailable" from "write refused", and a
writer connection killed under it must cost at most the batch in hand, never later writes."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from tests.conftest import Csms
from tests.protocol.raw import RawStation, status_payload
from watthub.storage.pg_batch import translated
from watthub.storage.writer import is_unavailable


def test_asyncpg_errors_read_as_sqlalchemy_errors() -> None:
    lost = translated(asyncpg.exceptions.ConnectionDoesNotExistError("gone"), "SQL", ())
    assert is_unavailable(lost) and lost.connection_invalidated  # type: ignore[attr-defined]
    cancelled = translated(asyncpg.exceptions.QueryCanceledError("statement timeout"), "SQL", ())
    assert is_unavailable(cancelled)
    for refused in (
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.NumericValueOutOfRangeError("out of range"),
        asyncpg.exceptions.UndefinedColumnError("no such column"),
    ):
        assert not is_unavailable(translated(refused, "SQL", ())), refused


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_killed_writer_connection_costs_at_most_the_batch_in_hand(csms: Csms) -> None:
    await csms.add_station("CP1")
    station = await RawStation.open(csms.url("CP1"))
    try:
        await station.boot()
        assert (await station.call("s0", "StatusNotification", status_payload()))[0] == 3
        async with csms.hub.services.engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert killed >= 1
        answers = [
            await station.call(f"s{n}", "StatusNotification", status_payload("Preparing"))
            for n in range(1, 6)
        ]
        # The first write after the kill may fail (answered InternalError: the charger retries);
        # the writer reconnects and the others are stored.
        assert all(a[0] == 3 for a in answers[1:]), answers
        assert answers[0][0] == 3 or answers[0][2] == "InternalError", answers[0]
        status = (await csms.api.get("/stations/CP1")).json()["connectors"]
        assert any(c["status"] == "Preparing" for c in status), status
    finally:
        await station.close()
