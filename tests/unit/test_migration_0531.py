"""Migration 0531 turns the per-sampled-value rows of ``meter_values`` into one ``meter_readings``
row per meterValue element, with the key the server now computes (a message acknowledged
before the upgrade and redelivered after it stores nothing), and the downgrade restores the rows
exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    column,
    select,
    table,
    text,
)

from tests.support.scratch_db import downgrade, scratch_database
from watthub.domain import core
from watthub.storage import db, transactions_repo
from watthub.timeutil import parse_ts

_OLD_COLUMNS = (
    "station_id",
    "connector_id",
    "transaction_id",
    "timestamp",
    "value",
    "measurand",
    "phase",
    "unit",
    "context",
    "location",
    "format",
    "source",
    "sample_key",
)
_TYPES: dict[str, Any] = {
    "connector_id": Integer(),
    "transaction_id": BigInteger(),
    "timestamp": DateTime(timezone=True),
    "sample_key": BigInteger(),
    "reading_key": BigInteger(),
    "id": BigInteger(),
}
# Typed like the tables (SQLite stores a datetime as SQLAlchemy formats it).
_old = table("meter_values", *(column(c, _TYPES.get(c, String())) for c in ("id", *_OLD_COLUMNS)))
_new = table(
    "meter_readings",
    *(
        column(c, _TYPES.get(c, String()))
        for c in ("id", "station_id", "connector_id", "transaction_id", "timestamp", "source")
    ),
    column("reading_key", BigInteger()),
    column("sampled_values", String()),
)
# A message of two elements, the second with two sampled values; a one-element message at the
# same time on another connector; a StopTransaction's transactionData.
_TWO_ELEMENTS = [
    {
        "timestamp": "2026-01-01T10:05:00Z",
        "sampledValue": [{"value": "150"}, {"value": "7.4", "measurand": "Power.Active.Import"}],
    },
    {
        "timestamp": "2026-01-01T10:06:00Z",
        "sampledValue": [
            {"value": "0.2", "unit": "kWh", "context": "Sample.Clock"},
            {"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L2"},
        ],
    },
]
_ONE_ELEMENT = [{"timestamp": "2026-01-01T10:05:00Z", "sampledValue": [{"value": "9"}]}]
_MESSAGES: list[tuple[int, int | None, list[dict[str, Any]], str]] = [
    (1, 1, _TWO_ELEMENTS, "MeterValues"),
    (2, None, _ONE_ELEMENT, "MeterValues"),
    (1, 1, _ONE_ELEMENT, "StopTransaction"),
]


def _old_rows(
    connector_id: int, transaction_id: int | None, meter_value: list[dict[str, Any]], source: str
) -> list[dict[str, Any]]:
    """The rows WattHub stored before 0531: one per sampled value, key = checksum + position."""
    key = transactions_repo.message_checksum(source, connector_id, transaction_id, meter_value)
    rows = []
    for mv in meter_value:
        for sv in mv["sampledValue"]:
            rows.append(
                {
                    "station_id": "CP1",
                    "connector_id": connector_id,
                    "transaction_id": transaction_id,
                    "timestamp": parse_ts(mv["timestamp"]),
                    "value": sv["value"],
                    "measurand": sv.get("measurand", "Energy.Active.Import.Register"),
                    "phase": sv.get("phase"),
                    "unit": sv.get("unit"),
                    "context": sv.get("context", "Sample.Periodic"),
                    "location": None,
                    "format": None,
                    "source": source,
                    "sample_key": transactions_repo.nth_key(key, len(rows)),
                }
            )
    return rows


# Stored before 0511: no keys; consecutive ids with one timestamp were one element.
_UNKEYED = [
    {
        **_old_rows(3, None, _ONE_ELEMENT, "MeterValues")[0],
        "value": value,
        "measurand": measurand,
        "sample_key": None,
    }
    for value, measurand in (("5", "Energy.Active.Import.Register"), ("1.1", "Current.Import"))
]


def _normalized(rows: list[Any]) -> list[tuple[Any, ...]]:
    out = []
    for r in rows:
        row = dict(r._mapping)
        ts = row["timestamp"]
        row["timestamp"] = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        out.append(tuple(row[c] for c in _OLD_COLUMNS))
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_upgrade_groups_samples_into_readings_and_downgrade_restores_them(
    backend: str, tmp_path: Path
) -> None:
    old = [row for message in _MESSAGES for row in _old_rows(*message)] + _UNKEYED
    async with scratch_database(backend, tmp_path, "0531") as (engine, url):
        await db.upgrade(engine, url, "0521")
        async with engine.begin() as conn:
            await conn.execute(_old.insert(), old)
            stored = _normalized((await conn.execute(select(_old).order_by(_old.c.id))).all())
        await db.upgrade(engine, url)
        async with engine.begin() as conn:
            readings = [
                dict(r._mapping) for r in await conn.execute(select(_new).order_by(_new.c.id))
            ]
            # What the server computes for the same messages now: same keys, same samples.
            expected = [
                dict(zip(core.METER_COLUMNS, row, strict=True))
                for message in _MESSAGES
                for row in core.meter_rows("CP1", *message)
            ]
            assert len(readings) == len(expected) + 1  # + the unkeyed element
            for reading, want in zip(readings, expected, strict=False):
                assert reading["reading_key"] == want["reading_key"]
                assert reading["connector_id"] == want["connector_id"]
                assert reading["source"] == want["source"]
                assert orjson.loads(reading["sampled_values"]) == orjson.loads(
                    want["sampled_values"]
                )
            assert readings[-1]["reading_key"] is None
            assert [s["value"] for s in orjson.loads(readings[-1]["sampled_values"])] == [
                "5",
                "1.1",
            ]
            # A redelivery of the messages acknowledged before the upgrade stores nothing.
            statement = transactions_repo.meter_readings_insert(conn.dialect.name)
            await conn.execute(statement, expected)
            count = await conn.execute(text("SELECT count(*) FROM meter_readings"))
            assert count.scalar() == len(readings)
            # The readers see the sampled values as before, in the order stored.
            shown = await transactions_repo.meter_values_for(conn, station_id="CP1")
            assert sorted((m["timestamp"].minute, m["value"]) for m in shown) == sorted(
                (r["timestamp"].minute, r["value"]) for r in old
            )
        await downgrade(engine, url, "0521")
        async with engine.begin() as conn:
            restored = _normalized((await conn.execute(select(_old).order_by(_old.c.id))).all())
        assert restored == stored
        await db.upgrade(engine, url)  # and up again


def test_reading_keys_follow_the_position_of_the_element() -> None:
    rows = core.meter_rows("CP1", 1, 1, _TWO_ELEMENTS, "MeterValues")
    first, second = (dict(zip(core.METER_COLUMNS, r, strict=True)) for r in rows)
    assert second["reading_key"] == transactions_repo.nth_key(first["reading_key"], 1)
    assert first["timestamp"] == datetime(2026, 1, 1, 10, 5, tzinfo=UTC)
