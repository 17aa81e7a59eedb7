"""Charging transactions and meter values."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, func, not_, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.clip import clip
from watthub.storage.prepared import Prepared
from watthub.storage.tables import (
    METER_SAMPLE_LIMITS,
    connectors,
    meter_readings,
    stop_anomalies,
    transactions,
)
from watthub.timeutil import as_utc, utcnow

# Hot-path statements are built once: building a statement per call (and its cache key) cost
# more than running it.
_INSERT = transactions.insert().returning(transactions.c.id)
_GET = select(transactions).where(transactions.c.id == bindparam("transaction_id"))
# One look-up for a StartTransaction (domain/core.py), a UNION ALL of index searches (written as
# one WHERE with OR, SQLite scans every transaction of the station):
# 1. a stored start with the same content: this start is a redelivery of it;
# 2. the open transactions of the connector: stale once a new start arrives there;
# 3. (when the tag may not charge twice) one transaction of the tag *running* elsewhere: open,
#    Accepted, and its connector has not reported Available/Preparing since it started (a charger
#    that lost it shows the connector free, while its StopTransaction may still be on the way).
#    Only such a transaction makes the new start ConcurrentTx.
# Only what the start needs (fewer result columns, less per-execution work).
_CONTEXT_COLUMNS = [
    transactions.c[name]
    for name in (
        "id",
        "station_id",
        "connector_id",
        "start_key",
        "stop_time",
        "id_tag_status",
        "id_tag_info",
        "meter_start",
        "start_time",
    )
]
_SAME_START = select(*_CONTEXT_COLUMNS).where(
    transactions.c.station_id == bindparam("station_id"),
    transactions.c.start_key == bindparam("start_key"),
)
_OPEN_ON_CONNECTOR = select(*_CONTEXT_COLUMNS).where(
    transactions.c.stop_time.is_(None),
    transactions.c.station_id == bindparam("station_id"),
    transactions.c.connector_id == bindparam("connector_id"),
)
_RUNNING_ELSEWHERE = (
    select(*_CONTEXT_COLUMNS)
    .select_from(
        transactions.outerjoin(
            connectors,
            and_(
                connectors.c.station_id == transactions.c.station_id,
                connectors.c.connector_id == transactions.c.connector_id,
            ),
        )
    )
    .where(
        transactions.c.stop_time.is_(None),
        func.lower(transactions.c.id_tag) == bindparam("norm"),
        transactions.c.id_tag_status == "Accepted",
        not_(
            and_(
                transactions.c.station_id == bindparam("station_id"),
                transactions.c.connector_id == bindparam("connector_id"),
            )
        ),
        not_(
            and_(
                # Not IN (…): an IN list is re-rendered at every execution (an "expanding"
                # parameter), which tripled the cost of this statement.
                or_(connectors.c.status == "Available", connectors.c.status == "Preparing"),
                connectors.c.status_at.is_not(None),
                connectors.c.status_at > transactions.c.start_time,
            )
        ),
    )
    .limit(1)
    .subquery("running")  # a LIMIT inside a UNION member needs its own SELECT in SQLite
)
_START_CONTEXT = Prepared(union_all(_SAME_START, _OPEN_ON_CONNECTOR))
_START_CONTEXT_TAG = Prepared(
    union_all(_SAME_START, _OPEN_ON_CONNECTOR, select(_RUNNING_ELSEWHERE))
)
# What a StartTransaction inserts (``domain/core.py``), as one prepared statement; other column
# sets go through ``_INSERT``.
_START_COLUMNS = (
    "station_id",
    "connector_id",
    "id_tag",
    "id_tag_status",
    "id_tag_info",
    "meter_start",
    "start_time",
    "reservation_id",
    "start_key",
    "created_at",
)
# The id comes back with RETURNING on both databases (PostgreSQL has no ``lastrowid``).
_INSERT_START = Prepared(
    transactions.insert()
    .values({c: bindparam(c) for c in _START_COLUMNS})
    .returning(transactions.c.id)
)
_START_KEYS = frozenset(_START_COLUMNS)
_GET_PREPARED = Prepared(_GET)


@dataclass(slots=True)
class StartContext:
    same: dict[str, Any] | None  # the stored start with this content
    stale: list[dict[str, Any]]  # the other open transactions of the connector, oldest first
    running_elsewhere: bool  # the tag runs a transaction on another connector


async def insert_transaction(conn: AsyncConnection, **values: Any) -> int:
    row = {"created_at": utcnow(), **clip(transactions, values)}
    if row.keys() == _START_KEYS:
        return int((await _INSERT_START.rows(conn, row))[0]["id"])
    result = await conn.execute(_INSERT, row)
    return int(result.scalar_one())


async def get_transaction(conn: AsyncConnection, transaction_id: int) -> dict[str, Any] | None:
    return await _GET_PREPARED.first(conn, {"transaction_id": transaction_id})


def start_key(connector_id: int, timestamp: datetime, meter_start: int, id_tag: str) -> str:
    """The content of a StartTransaction as one string; the timestamp normalised (UTC,
    microseconds), so a retry that formats the same instant differently is still the same."""
    key = f"{connector_id}|{as_utc(timestamp).isoformat(timespec='microseconds')}|{meter_start}|{id_tag}"
    if len(key) > 128:  # only a lenient station's oversized values get here
        key = "#" + hashlib.blake2b(key.encode(), digest_size=32).hexdigest()
    return key


async def start_context(
    conn: AsyncConnection, station_id: str, connector_id: int, key: str, tag_norm: str | None
) -> StartContext:
    """See ``_START_CONTEXT``; ``tag_norm`` None: the tag's other transactions do not matter."""
    params = {"station_id": station_id, "start_key": key, "connector_id": connector_id}
    if tag_norm is None:
        found = await _START_CONTEXT.rows(conn, params)
    else:
        found = await _START_CONTEXT_TAG.rows(conn, {**params, "norm": tag_norm})
    rows = {r["id"]: r for r in found}  # a row may match two parts
    context = StartContext(None, [], False)
    for row in sorted(rows.values(), key=lambda r: r["id"]):
        here = row["station_id"] == station_id
        if here and row["start_key"] == key:
            context.same = row
        elif here and row["connector_id"] == connector_id and row["stop_time"] is None:
            context.stale.append(row)
        else:
            context.running_elsewhere = True
    return context


async def open_transactions(
    conn: AsyncConnection, station_id: str, connector_id: int | None = None
) -> list[dict[str, Any]]:
    stmt = select(transactions).where(
        transactions.c.station_id == station_id, transactions.c.stop_time.is_(None)
    )
    if connector_id is not None:
        stmt = stmt.where(transactions.c.connector_id == connector_id)
    result = await conn.execute(stmt.order_by(transactions.c.id))
    return [dict(r._mapping) for r in result]


# What a stop sets, from parameters of the same names (shared by the two statements below).
_STOP_SET = {
    c: bindparam(c)
    for c in ("meter_stop", "stop_time", "stop_reason", "stop_id_tag", "stop_received_at")
}
_STOP = Prepared(
    update(transactions).where(transactions.c.id == bindparam("tx_id")).values(_STOP_SET)
)
# The usual stop in one statement: this station's transaction, still open (the rest, unknown or
# already stopped, is told apart by reading it first).
_STOP_OPEN = Prepared(
    update(transactions)
    .where(
        transactions.c.id == bindparam("tx_id"),
        transactions.c.station_id == bindparam("station_id"),
        transactions.c.stop_time.is_(None),
    )
    .values(_STOP_SET)
    .returning(transactions.c.connector_id)
)


def _stop_params(
    transaction_id: int,
    meter_stop: int,
    stop_time: datetime,
    stop_reason: str | None,
    stop_id_tag: str | None,
) -> dict[str, Any]:
    values = clip(transactions, {"stop_reason": stop_reason, "stop_id_tag": stop_id_tag})
    return {
        "tx_id": transaction_id,
        "meter_stop": meter_stop,
        "stop_time": stop_time,
        "stop_received_at": utcnow(),
        **values,
    }


async def stop_open_transaction(
    conn: AsyncConnection,
    transaction_id: int,
    station_id: str,
    *,
    meter_stop: int,
    stop_time: datetime,
    stop_reason: str | None,
    stop_id_tag: str | None,
) -> int | None:
    """Stop ``station_id``'s open transaction; its connector, or None (nothing was changed:
    no such transaction, another station's, or already stopped)."""
    params = _stop_params(transaction_id, meter_stop, stop_time, stop_reason, stop_id_tag)
    row = await _STOP_OPEN.first(conn, {**params, "station_id": station_id})
    return None if row is None else int(row["connector_id"])


async def stop_transaction(
    conn: AsyncConnection,
    transaction_id: int,
    *,
    meter_stop: int,
    stop_time: datetime,
    stop_reason: str | None,
    stop_id_tag: str | None,
) -> None:
    params = _stop_params(transaction_id, meter_stop, stop_time, stop_reason, stop_id_tag)
    await _STOP.execute(conn, params)


def split_flags(flags: str | None) -> list[str]:
    return [f for f in (flags or "").split(",") if f]


async def add_flag(conn: AsyncConnection, transaction_id: int, *new: str) -> None:
    current = await get_transaction(conn, transaction_id)
    if current is None:
        return
    flags = split_flags(current["flags"])
    flags += [f for f in new if f not in flags]
    await conn.execute(
        update(transactions)
        .where(transactions.c.id == transaction_id)
        .values(flags=",".join(flags))
    )


ENERGY = "Energy.Active.Import.Register"
# The latest readings of a transaction, newest first: the energy sample is picked in Python (the
# samples are one JSON text per reading). 20 readings as before 0531 (20 energy samples then).
_LAST_READINGS = (
    select(meter_readings.c.timestamp, meter_readings.c.sampled_values)
    .where(meter_readings.c.transaction_id == bindparam("tx_id"))
    .order_by(meter_readings.c.timestamp.desc(), meter_readings.c.id.desc())
    .limit(20)
)


def sampled_values(text: str) -> list[dict[str, Any]]:
    """The sampled values of a reading (a JSON array of SampledValue objects; see tables.py)."""
    values = orjson.loads(text)
    return values if isinstance(values, list) else []


def energy_samples(text: str) -> list[dict[str, Any]]:
    """The total energy register samples of a reading (no phase), last one first."""
    return [
        sv
        for sv in reversed(sampled_values(text))
        if sv.get("measurand") == ENERGY and sv.get("phase") is None
    ]


def wh(sample: dict[str, Any]) -> float | None:
    """An energy sample's value in Wh (kWh converted), None when it is not a number."""
    try:
        number = float(sample.get("value", ""))
    except ValueError:
        return None
    return number * 1000 if sample.get("unit") == "kWh" else number


async def last_energy_reading(
    conn: AsyncConnection, transaction_id: int, at_least: int
) -> tuple[datetime, int] | None:
    """The latest energy register reading (Wh) of a transaction that is not below ``at_least``
    (a reading below meterStart is not a register value of this meter), with its time."""
    result = await conn.execute(_LAST_READINGS, {"tx_id": transaction_id})
    for timestamp, text in result:
        for sample in energy_samples(text):
            if sample.get("format", "Raw") != "Raw":  # a SignedData value is no number
                continue
            value = wh(sample)
            if value is not None and value >= at_least:
                return timestamp, int(value)
    return None


async def record_stop_anomaly(
    conn: AsyncConnection,
    station_id: str,
    transaction_id: int,
    reason: str,
    payload: dict[str, Any],
) -> None:
    await conn.execute(
        stop_anomalies.insert().values(
            station_id=station_id,
            transaction_id=transaction_id,
            reason=reason,
            payload=payload,
            received_at=utcnow(),
        )
    )


_INT64 = 1 << 64


def message_checksum(*content: Any) -> int:
    """A signed 64-bit checksum of a message's content (CRC-32 and Adler-32 of its canonical
    JSON: microseconds, where a cryptographic hash costs several). It only needs to tell apart
    the messages of one station with the same timestamp, which the unique index adds."""
    try:
        data = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a lenient station's value orjson refuses (an integer beyond 64 bits)
        data = repr(content).encode()
    return nth_key((zlib.crc32(data) << 32) | zlib.adler32(data), 0)


def nth_key(key: int, n: int) -> int:
    """``key + n`` wrapped into a signed 64-bit integer (the column is BIGINT)."""
    value = (key + n) % _INT64
    return value - _INT64 if value >= _INT64 >> 1 else value


@cache
def meter_readings_insert(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: a reading already stored (same station, time and
    ``reading_key``) is skipped, so a redelivered message adds no rows."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(meter_readings).on_conflict_do_nothing()


async def insert_meter_readings(
    conn: AsyncConnection, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    if rows:
        statement = meter_readings_insert(conn.dialect.name)
        await conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])


async def list_transactions(
    conn: AsyncConnection,
    *,
    station_id: str | None = None,
    id_tag: str | None = None,
    active: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    stmt = select(transactions)
    if station_id is not None:
        stmt = stmt.where(transactions.c.station_id == station_id)
    if id_tag is not None:
        stmt = stmt.where(func.lower(transactions.c.id_tag) == id_tag.casefold())
    if active is True:
        stmt = stmt.where(transactions.c.stop_time.is_(None))
    elif active is False:
        stmt = stmt.where(transactions.c.stop_time.is_not(None))
    # SQLite stores the wall time and drops the offset: compare in UTC, as everything is stored.
    if since is not None:
        stmt = stmt.where(transactions.c.start_time >= as_utc(since))
    if until is not None:
        stmt = stmt.where(transactions.c.start_time < as_utc(until))
    stmt = stmt.order_by(transactions.c.id.desc()).limit(limit).offset(offset)
    result = await conn.execute(stmt)
    return [dict(r._mapping) for r in result]


_SAMPLE_ATTRIBUTES = tuple(METER_SAMPLE_LIMITS)  # value, measurand, phase, ...


async def meter_values_for(
    conn: AsyncConnection,
    *,
    transaction_id: int | None = None,
    station_id: str | None = None,
    limit: int = 10000,
) -> list[dict[str, Any]]:
    """The sampled values (at most ``limit``) in time order, one dict per sampled value with the
    columns of the per-sample table before migration 0531; the sampled values of one reading
    share its ``id``."""
    stmt = select(meter_readings)
    if transaction_id is not None:
        stmt = stmt.where(meter_readings.c.transaction_id == transaction_id)
    if station_id is not None:
        stmt = stmt.where(meter_readings.c.station_id == station_id)
    # Every reading holds at least one sampled value: ``limit`` readings are enough.
    result = await conn.execute(
        stmt.order_by(meter_readings.c.timestamp, meter_readings.c.id).limit(limit)
    )
    out: list[dict[str, Any]] = []
    for r in result:
        for sample in sampled_values(r.sampled_values):
            row = {
                "id": r.id,
                "station_id": r.station_id,
                "connector_id": r.connector_id,
                "transaction_id": r.transaction_id,
                "timestamp": r.timestamp,
            }
            for name in _SAMPLE_ATTRIBUTES:
                row[name] = sample.get(name)
            row["source"] = r.source
            out.append(row)
            if len(out) >= limit:
                return out
    return out


async def stop_anomalies_for(conn: AsyncConnection, station_id: str) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(stop_anomalies)
        .where(stop_anomalies.c.station_id == station_id)
        .order_by(stop_anomalies.c.id)
    )
    return [dict(r._mapping) for r in result]
