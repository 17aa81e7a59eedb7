"""Core profile: the messages a station sends (OCPP 1.6 §4), answered per §4.2 of the reference.

Transaction messages are answered only after their data is committed (``writer.run``)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain import events
from watthub.domain.authorization import STARTED_HOOKS, AuthRequest, decide
from watthub.domain.context import StationContext
from watthub.domain.invalidation import STATIONS
from watthub.domain.registry import on
from watthub.domain.transactions import (
    FLAG_STOP_AFTER_CLOSE,
    Closed,
    announce,
    close_stale_in_write,
    closed_by_watthub,
    note_boot,
    status_after_boot,
    stored_id_tag_info,
)
from watthub.storage import stations_repo, transactions_repo
from watthub.storage.tables import METER_SAMPLE_LIMITS, status_history
from watthub.timeutil import format_ts, now_ts, parse_ts, utcnow

# Pending/Rejected: the interval is the minimum wait before the next BootNotification.
BOOT_RETRY_INTERVAL = 60


@on("BootNotification")
async def boot_notification(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    limit = ctx.settings.boot_admission_lag
    writer = ctx.services.writer
    if limit and writer.lag > limit and writer.backlog:
        # Admission control: the node is saturated (a reconnect storm). Answer at once, store
        # nothing, and spread the retries out (jitter) instead of letting boots queue up until
        # stations time out. Pending: the station retries after ``interval`` (spec §4.2).
        base = ctx.settings.boot_admission_interval
        ctx.services.registration[ctx.station_id] = "Pending"
        ctx.log.info("boot answered Pending: writes wait %.1f s", writer.lag)
        return {
            "status": "Pending",
            "currentTime": now_ts(),
            "interval": base + random.randrange(base + 1),
        }
    policy = ctx.station.get("boot_policy") or "Accepted"
    if policy == "Accepted":
        interval = ctx.station.get("heartbeat_interval") or ctx.settings.default_heartbeat_interval
    else:
        interval = BOOT_RETRY_INTERVAL
    now = utcnow()
    info = {
        "vendor": p.get("chargePointVendor"),
        "model": p.get("chargePointModel"),
        "serial_number": p.get("chargePointSerialNumber"),
        "charge_box_serial_number": p.get("chargeBoxSerialNumber"),
        "firmware_version": p.get("firmwareVersion"),
        "iccid": p.get("iccid"),
        "imsi": p.get("imsi"),
        "meter_type": p.get("meterType"),
        "meter_serial_number": p.get("meterSerialNumber"),
    }

    # One parameter set of a prebuilt UPDATE: the boots of a storm share one executemany.
    await ctx.services.writer.insert(
        stations_repo.STORE_BOOT, [stations_repo.boot_row(ctx.station_id, policy, now, info)]
    )
    if any(ctx.station.get(k) != v for k, v in info.items()):
        # The handshake cache holds the row (the serial number is checked against a profile 3
        # certificate): drop it when the boot changed it. A reboot with the same data does not.
        ctx.services.invalidation.publish(STATIONS, ctx.station_id)
    ctx.station.update(info, registration_status=policy)
    ctx.services.registration[ctx.station_id] = policy
    note_boot(ctx, now)
    ctx.log.info(
        "boot %s (%s %s, firmware %s)",
        policy,
        info["vendor"],
        info["model"],
        info["firmware_version"],
    )
    ctx.services.events.emit(events.STATION_BOOTED, station_id=ctx.station_id, status=policy)
    return {"status": policy, "currentTime": now_ts(), "interval": int(interval)}


@on("Heartbeat")
async def heartbeat(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": now_ts()}


@on("StatusNotification")
async def status_notification(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    history, current = stations_repo.status_rows(
        ctx.station_id,
        p["connectorId"],
        p["status"],
        p["errorCode"],
        _timestamp(p.get("timestamp")),
        info=p.get("info"),
        vendor_id=p.get("vendorId"),
        vendor_error_code=p.get("vendorErrorCode"),
    )

    # Two row writes, coalesced with the other stations' in the batch: the history row and the
    # connector's current status (an upsert that only moves forward in time).
    writer = ctx.services.writer
    upsert = stations_repo.current_status_upsert(ctx.services.engine.dialect.name)
    await writer.insert_pair((status_history, [history]), (upsert, [current]))
    ctx.services.events.emit(
        events.STATUS_CHANGED,
        station_id=ctx.station_id,
        connector_id=p["connectorId"],
        status=p["status"],
        error_code=p["errorCode"],
        timestamp=p.get("timestamp"),
    )
    if ctx.booted_at is not None:
        await status_after_boot(ctx, p["connectorId"], p["status"])
    if p["errorCode"] != "NoError":
        ctx.log.warning(
            "connector %s %s with error %s", p["connectorId"], p["status"], p["errorCode"]
        )
    return {}


@on("Authorize")
async def authorize(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    request = AuthRequest(ctx.station_id, p["idTag"], "Authorize")
    info, _tag = await decide(None, request, ctx.services)
    return {"idTagInfo": info}


@on("StartTransaction")
async def start_transaction(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    id_tag = p["idTag"]
    connector_id = p["connectorId"]
    request = AuthRequest(
        ctx.station_id, id_tag, "StartTransaction", connector_id, p.get("reservationId")
    )
    started = _timestamp(p.get("timestamp"))
    key = transactions_repo.start_key(connector_id, started, p["meterStart"], id_tag)

    async def store(conn: AsyncConnection) -> tuple[int, dict[str, Any], list[Closed] | None]:
        # Inside the write, on the writer's one connection: a start committed in this very
        # batch is seen, so two identical starts in one commit group are still one transaction.
        # Decided inside the write too, so two concurrent starts with one tag see each other.
        info, tag = await decide(conn, request, ctx.services)
        exclusive = (
            info["status"] == "Accepted" and tag is not None and not tag["allow_concurrent_tx"]
        )
        found = await transactions_repo.start_context(
            conn, ctx.station_id, connector_id, key, tag["id_tag_norm"] if exclusive else None
        )
        if found.same is not None:
            # A redelivery: the stored transaction and the verdict it got, never a new one.
            return found.same["id"], stored_id_tag_info(found.same), None
        closed = await close_stale_in_write(conn, found.stale, "newStart")
        if exclusive and found.running_elsewhere:
            info = {**info, "status": "ConcurrentTx"}
        # A transactionId is returned whatever the verdict (TC_037_3): the station may already
        # be charging offline and will stop with this id.
        tx_id = await transactions_repo.insert_transaction(
            conn,
            station_id=ctx.station_id,
            connector_id=connector_id,
            id_tag=id_tag,
            id_tag_status=info["status"],
            id_tag_info=info,
            meter_start=p["meterStart"],
            start_time=started,
            reservation_id=p.get("reservationId"),
            start_key=key,
        )
        for hook in STARTED_HOOKS:
            await hook(conn, request, info, tx_id)
        return tx_id, info, closed

    tx_id, info, closed = await ctx.services.writer.run(store)
    if closed is None:
        ctx.log.info("StartTransaction redelivered: answered with transaction %s again", tx_id)
        return {"transactionId": tx_id, "idTagInfo": info}
    for c in closed:
        ctx.log.warning(
            "transaction %s closed as stale: connector %s started transaction %s",
            c.transaction_id,
            connector_id,
            tx_id,
        )
    announce(ctx.services, closed)
    ctx.log.info(
        "transaction %s started on connector %s by %s (%s)",
        tx_id,
        connector_id,
        id_tag,
        info["status"],
    )
    ctx.services.events.emit(
        events.TRANSACTION_STARTED,
        station_id=ctx.station_id,
        transaction_id=tx_id,
        connector_id=connector_id,
        id_tag=id_tag,
        status=info["status"],
        reservation_id=p.get("reservationId"),
        start_time=format_ts(started),
    )
    return {"transactionId": tx_id, "idTagInfo": info}


@on("StopTransaction")
async def stop_transaction(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    tx_id = p["transactionId"]
    stopped = _timestamp(p.get("timestamp"))
    reason = p.get("reason") or "Local"  # absent reason means Local (spec §6.50)
    id_tag = p.get("idTag")

    async def store(conn: AsyncConnection) -> tuple[str, dict[str, Any] | None, int | None]:
        stop = {
            "meter_stop": p["meterStop"],
            "stop_time": stopped,
            "stop_reason": reason,
            "stop_id_tag": id_tag,
        }
        # The usual case, an open transaction of this station, is one statement.
        connector = await transactions_repo.stop_open_transaction(
            conn, tx_id, ctx.station_id, **stop
        )
        if connector is not None:
            outcome = "stopped"
        else:
            outcome, connector = await _stop_otherwise(conn, ctx.station_id, tx_id, stop)
        if outcome not in ("stopped", "stopped_after_close"):
            await transactions_repo.record_stop_anomaly(conn, ctx.station_id, tx_id, outcome, p)
        linked = tx_id if outcome in ("stopped", "already_stopped", "stopped_after_close") else None
        readings = meter_rows(
            ctx.station_id, connector, linked, p.get("transactionData") or [], "StopTransaction"
        )
        await transactions_repo.insert_meter_readings(conn, METER_COLUMNS, readings)
        info = None
        if id_tag is not None:
            request = AuthRequest(ctx.station_id, id_tag, "StopTransaction")
            info, _tag = await decide(conn, request, ctx.services)
        return outcome, info, connector

    outcome, info, connector = await ctx.services.writer.run(store)
    if outcome == "stopped":
        ctx.log.info("transaction %s stopped (%s)", tx_id, reason)
        ctx.services.events.emit(
            events.TRANSACTION_STOPPED,
            station_id=ctx.station_id,
            transaction_id=tx_id,
            connector_id=connector,
            reason=reason,
        )
    elif outcome == "stopped_after_close":
        ctx.log.info("transaction %s: the station's stop replaces WattHub's close", tx_id)
    else:
        # Answered all the same: a station must never be blocked by our bookkeeping (spec §4.10).
        ctx.log.warning("StopTransaction for transaction %s flagged: %s", tx_id, outcome)
    answer: dict[str, Any] = {}
    if info is not None:
        answer["idTagInfo"] = info
    return answer


async def _stop_otherwise(
    conn: AsyncConnection, station_id: str, tx_id: int, stop: dict[str, Any]
) -> tuple[str, int]:
    """A StopTransaction that did not stop an open transaction of its station: (outcome,
    connector). Unknown, another station's, already stopped by the station (flagged), or closed
    by WattHub (the station's own stop replaces WattHub's estimate)."""
    tx = await transactions_repo.get_transaction(conn, tx_id)
    if tx is None:
        return ("unknown_transaction" if tx_id != -1 else "no_transaction_id"), 0
    if tx["station_id"] != station_id:
        return "other_station", tx["connector_id"]
    if tx["stop_time"] is not None and not closed_by_watthub(tx):
        await transactions_repo.add_flag(conn, tx_id, "repeated_stop")
        return "already_stopped", tx["connector_id"]
    outcome = "stopped"  # open and this station's: only if it changed since the statement above
    if tx["stop_time"] is not None:
        # The transaction was announced as stopped when WattHub closed it, not again now.
        await transactions_repo.add_flag(conn, tx_id, FLAG_STOP_AFTER_CLOSE)
        outcome = "stopped_after_close"
    await transactions_repo.stop_transaction(conn, tx_id, **stop)
    return outcome, tx["connector_id"]


@on("MeterValues")
async def meter_values(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    rows = meter_rows(
        ctx.station_id, p["connectorId"], p.get("transactionId"), p["meterValue"], "MeterValues"
    )

    # Rows of all MeterValues in a batch go to the database as one statement.
    statement = transactions_repo.meter_readings_insert(ctx.services.engine.dialect.name)
    await ctx.services.writer.insert_tuples(statement, METER_COLUMNS, rows)
    # The station's own (already parsed, JSON-shaped) list: no work on the hot path.
    ctx.services.events.emit(
        events.METER_VALUES,
        station_id=ctx.station_id,
        connector_id=p["connectorId"],
        transaction_id=p.get("transactionId"),
        meter_value=p["meterValue"],
    )
    return {}


VendorHandler = Callable[[StationContext, str | None, Any], Awaitable[dict[str, Any]]]
VENDOR_HANDLERS: dict[str, VendorHandler] = {}


def register_vendor(vendor_id: str, handler: VendorHandler) -> None:
    """Handle DataTransfer.req for ``vendor_id``. The handler gets (context, messageId, data) and
    returns the DataTransfer.conf payload ({"status": ..., "data": ...})."""
    VENDOR_HANDLERS[vendor_id] = handler


async def _watthub_vendor(ctx: StationContext, message_id: str | None, data: Any) -> dict[str, Any]:
    # A built-in vendor so the mechanism can be seen working: messageId "Echo" echoes data.
    if message_id == "Echo":
        answer: dict[str, Any] = {"status": "Accepted"}
        if data is not None:
            answer["data"] = data
        return answer
    return {"status": "UnknownMessageId"}


register_vendor("org.watthub", _watthub_vendor)


@on("DataTransfer")
async def data_transfer(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
    handler = VENDOR_HANDLERS.get(p["vendorId"])
    if handler is None:
        return {"status": "UnknownVendorId"}
    return await handler(ctx, p.get("messageId"), p.get("data"))


def meter_rows(
    station_id: str,
    connector_id: int,
    transaction_id: int | None,
    meter_value: list[dict[str, Any]],
    source: str,
) -> list[tuple[Any, ...]]:
    """The ``meter_readings`` rows of a message as tuples of ``METER_COLUMNS``: one per meterValue
    element, its sampled values as JSON text (no dict per row: the hot path of MeterValues)."""
    rows: list[tuple[Any, ...]] = []
    # The n-th element of this very message gets key + n: a redelivery repeats the keys.
    key = transactions_repo.message_checksum(source, connector_id, transaction_id, meter_value)
    nth_key = transactions_repo.nth_key
    dumps = orjson.dumps
    for n, mv in enumerate(meter_value):
        # The JSON array is put together from pieces: each sampled value is '{"value":…' and
        # the cached encoding of its attributes (a dict per value and one dumps of the list
        # cost twice as much).
        samples = []
        for sv in mv.get("sampledValue") or ():
            get = sv.get
            rest = _sample_attributes(
                (
                    get("measurand", "Energy.Active.Import.Register"),
                    get("phase"),
                    get("unit"),
                    get("context", "Sample.Periodic"),
                    get("location"),
                    get("format"),
                )
            )
            value = str(get("value"))
            if len(value) > _VALUE_MAX:
                value = value[:_VALUE_MAX]
            samples.append(b'{"value":' + dumps(value) + rest)
        if not samples:  # an element without sampled values (lenient): nothing to store
            continue
        rows.append(
            (
                station_id,
                connector_id,
                transaction_id,
                _timestamp(mv.get("timestamp")),
                source,
                nth_key(key, n),
                (b"[" + b",".join(samples) + b"]").decode(),
            )
        )
    return rows


METER_COLUMNS = (
    "station_id",
    "connector_id",
    "transaction_id",
    "timestamp",
    "source",
    "reading_key",
    "sampled_values",
)
_SAMPLE_ATTRIBUTES = tuple(name for name in METER_SAMPLE_LIMITS if name != "value")
_VALUE_MAX = METER_SAMPLE_LIMITS["value"]
# The attributes of a sampled value (measurand, phase, unit, context, location, format) as the
# rest of its JSON object (',"measurand":…}'), cut to their limits and absent ones left out: a
# network's meters send a handful of combinations, so each is encoded once.
_FITTED: dict[tuple[Any, ...], bytes] = {}
_FITTED_MAX = 4096


def _sample_attributes(attrs: tuple[Any, ...]) -> bytes:
    try:
        return _FITTED[attrs]
    except KeyError:
        pass
    except TypeError:  # a lenient station's unhashable value: not cached
        return _fit(attrs)
    fitted = _fit(attrs)
    if len(_FITTED) >= _FITTED_MAX:  # a station making up values must not grow it for ever
        _FITTED.clear()
    _FITTED[attrs] = fitted
    return fitted


def _fit(attrs: tuple[Any, ...]) -> bytes:
    members: dict[str, str] = {}
    for name, value in zip(_SAMPLE_ATTRIBUTES, attrs, strict=True):
        if value is None:
            continue
        # A lenient station's number or object becomes its text (always JSON-encodable).
        text = value if isinstance(value, str) else str(value)
        members[name] = text[: METER_SAMPLE_LIMITS[name]]
    if not members:
        return b"}"
    return b"," + orjson.dumps(members)[1:]


def _timestamp(value: str | None) -> datetime:
    """The station's timestamp, or the receive time when absent or unreadable (lenient mode)."""
    if value:
        try:
            return parse_ts(value)
        except ValueError:
            pass
    return utcnow()
