"""meter readings: one row per meterValue element instead of one per sampled value

Revision ID: 0531
Revises: 0521

``meter_values`` (a row per sampled value) becomes ``meter_readings`` (a row per meterValue
element, its sampled values as one JSON text): a MeterValues of 9 sampled values cost 9 rows and
18 index entries. The sampled values of one element were stored with the same station,
connector, transaction, source and timestamp, and consecutive ``sample_key`` values (a message's
checksum + the value's position in the message); they become one reading. Consecutive keys with
another timestamp are the message's next element: the reading's key is then the message's
checksum + the element's position, exactly what the server computes now, so a message
acknowledged before the upgrade and redelivered after it is still recognised. (Two elements of
one message with the same timestamp cannot be told apart: they become one reading.) Rows stored
before 0511 have no key: consecutive ids with the same timestamp make a reading, with no key.

The downgrade writes one row per sampled value again, with the keys 0511 gave them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0531"
down_revision = "0521"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)
_ATTRIBUTES = ("measurand", "phase", "unit", "context", "location", "format")
_BATCH = 2000
_INT64 = 1 << 64

_old = sa.table(
    "meter_values",
    sa.column("id", _ID),
    sa.column("station_id", sa.String),
    sa.column("connector_id", sa.Integer),
    sa.column("transaction_id", sa.BigInteger),
    sa.column("timestamp", _TS),
    sa.column("value", sa.String),
    *(sa.column(name, sa.String) for name in _ATTRIBUTES),
    sa.column("source", sa.String),
    sa.column("sample_key", sa.BigInteger),
)
_new = sa.table(
    "meter_readings",
    sa.column("id", _ID),
    sa.column("station_id", sa.String),
    sa.column("connector_id", sa.Integer),
    sa.column("transaction_id", sa.BigInteger),
    sa.column("timestamp", _TS),
    sa.column("source", sa.String),
    sa.column("reading_key", sa.BigInteger),
    sa.column("sampled_values", sa.Text),
)


def _plus(key: int, n: int) -> int:
    """``key + n`` wrapped into a signed 64-bit integer (as transactions_repo.nth_key)."""
    value = (key + n) % _INT64
    return value - _INT64 if value >= _INT64 >> 1 else value


def _stations(conn: sa.Connection, table: Any) -> list[str]:
    return list(conn.scalars(sa.select(table.c.station_id).distinct()))


def _rows(conn: sa.Connection, table: Any, key: str, station_id: str) -> Iterator[Any]:
    """A station's rows, a message's rows next to each other: per connector, transaction and
    source, by key (a message's keys are consecutive), rows without a key by id. (A station at a
    time: the unique index on station_id makes it an index search.)"""
    c = table.c
    yield from conn.execute(
        sa.select(table)
        .where(c.station_id == station_id)
        .order_by(c.connector_id, c.transaction_id, c.source, c[key], c.id)
    )


def _insert(conn: sa.Connection, table: Any, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Insert a station's rows in the order of the rows they come from (``order``): new ids
    keep the insertion order the readers rely on ("latest" is the highest id)."""
    rows.sort(key=lambda r: r[0])
    for i in range(0, len(rows), _BATCH):
        conn.execute(table.insert(), [row for _, row in rows[i : i + _BATCH]])
    rows.clear()


def _same_place(a: Any, b: Any) -> bool:
    return (a.connector_id, a.transaction_id, a.source) == (
        b.connector_id,
        b.transaction_id,
        b.source,
    )


def upgrade() -> None:
    op.create_table(
        "meter_readings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("timestamp", _TS, nullable=False),
        sa.Column("source", sa.String(24), server_default="MeterValues", nullable=False),
        sa.Column("reading_key", sa.BigInteger(), nullable=True),
        sa.Column("sampled_values", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meter_readings"),
    )
    conn = op.get_bind()
    out: list[tuple[int, dict[str, Any]]] = []
    for station_id in _stations(conn, _old):
        reading: dict[str, Any] | None = None
        first_id = 0
        samples: list[dict[str, Any]] = []
        prev: Any = None
        base = index = 0  # the message's first key, the element's position in it
        for row in _rows(conn, _old, "sample_key", station_id):
            if prev is not None and _same_place(prev, row):
                if row.sample_key is None:
                    same_element = prev.sample_key is None and row.id == prev.id + 1
                    next_element = False
                else:
                    follows = prev.sample_key is not None and row.sample_key == _plus(
                        prev.sample_key, 1
                    )
                    same_element = follows
                    next_element = follows and row.timestamp != prev.timestamp
                same_element = same_element and row.timestamp == prev.timestamp
            else:
                same_element = next_element = False
            if not same_element:
                if reading is not None:
                    reading["sampled_values"] = orjson.dumps(samples).decode()
                    out.append((first_id, reading))
                if next_element:
                    index += 1
                else:
                    base, index = row.sample_key, 0
                reading = {
                    "station_id": row.station_id,
                    "connector_id": row.connector_id,
                    "transaction_id": row.transaction_id,
                    "timestamp": row.timestamp,
                    "source": row.source,
                    "reading_key": None if base is None else _plus(base, index),
                }
                samples = []
                first_id = row.id
            sample = {"value": row.value}
            for name in _ATTRIBUTES:
                if getattr(row, name) is not None:
                    sample[name] = getattr(row, name)
            samples.append(sample)
            prev = row
        if reading is not None:
            reading["sampled_values"] = orjson.dumps(samples).decode()
            out.append((first_id, reading))
        _insert(conn, _new, out)
    op.drop_table("meter_values")
    with op.batch_alter_table("meter_readings") as batch:
        batch.create_index("ix_meter_readings_transaction_id", ["transaction_id"])
        batch.create_index(
            "ux_meter_readings_key", ["station_id", "timestamp", "reading_key"], unique=True
        )


def downgrade() -> None:
    op.create_table(
        "meter_values",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("timestamp", _TS, nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("measurand", sa.String(64), nullable=True),
        sa.Column("phase", sa.String(8), nullable=True),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("context", sa.String(32), nullable=True),
        sa.Column("location", sa.String(16), nullable=True),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("source", sa.String(24), server_default="MeterValues", nullable=False),
        sa.Column("sample_key", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_meter_values"),
    )
    conn = op.get_bind()
    out: list[tuple[int, dict[str, Any]]] = []
    for station_id in _stations(conn, _new):
        prev: Any = None
        base = position = 0  # the message's first key, the next sampled value's position in it
        for row in _rows(conn, _new, "reading_key", station_id):
            key = row.reading_key
            # The next element of the same message (its key follows): positions go on.
            if not (
                key is not None
                and prev is not None
                and _same_place(prev, row)
                and prev.reading_key is not None
                and key == _plus(prev.reading_key, 1)
            ):
                base, position = key, 0
            for sample in orjson.loads(row.sampled_values):
                out.append(
                    (
                        row.id,
                        {
                            "station_id": row.station_id,
                            "connector_id": row.connector_id,
                            "transaction_id": row.transaction_id,
                            "timestamp": row.timestamp,
                            "value": sample.get("value"),
                            **{name: sample.get(name) for name in _ATTRIBUTES},
                            "source": row.source,
                            "sample_key": None if base is None else _plus(base, position),
                        },
                    )
                )
                position += 1
            prev = row
        _insert(conn, _old, out)
    op.drop_table("meter_readings")
    with op.batch_alter_table("meter_values") as batch:
        batch.create_index("ix_meter_values_transaction_id", ["transaction_id"])
        batch.create_index(
            "ux_meter_values_sample", ["station_id", "timestamp", "sample_key"], unique=True
        )
