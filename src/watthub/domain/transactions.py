"""Transactions that heal themselves (docs/ocpp.md, "Transaction integrity").

OCPP 1.6 chargers redeliver a transaction message until it is answered, without an idempotency
key, and a charger that loses a transaction (reboot, power loss) never stops it. So:

* a StartTransaction with the content of a stored one is that transaction (``core.py``);
* an open transaction is closed as *stale* when its connector starts a new transaction, or when
  the connector reports Available/Preparing first thing after a BootNotification;
* an operator can close a transaction by hand.

A closed transaction takes its meterStop and stop time from its last energy register reading
(meterStart and its start time when it has none) and the stop reason ``Other``: WattHub did not see
why the charger lost it (a reboot, a power cut, a firmware fault all look the same), and ``Other``
claims no cause; the flags say what happened. If the charger's own StopTransaction arrives later,
its values replace the estimate (flag ``stopAfterClose``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain import events
from watthub.domain.context import Services, StationContext
from watthub.storage import transactions_repo
from watthub.timeutil import as_utc, format_ts

CLOSED_STOP_REASON = "Other"
FLAG_STALE = "staleClosed"
FLAG_OPERATOR = "operatorClosed"
FLAG_STOP_AFTER_CLOSE = "stopAfterClose"
# Connector states that say no transaction runs there (OCPP 1.6 §4.9).
FREE_STATES = frozenset(("Available", "Preparing"))
REASON_MAX = 200


@dataclass(slots=True)
class Closed:
    station_id: str
    transaction_id: int
    connector_id: int
    meter_stop: int
    stop_time: datetime
    cause: str  # newStart | boot | operator


def stored_id_tag_info(tx: dict[str, Any]) -> dict[str, Any]:
    """The idTagInfo answered when the transaction started (only its status for transactions
    stored before it was kept)."""
    info = tx.get("id_tag_info")
    return dict(info) if isinstance(info, dict) else {"status": tx["id_tag_status"]}


def closed_by_watthub(tx: dict[str, Any]) -> bool:
    """Stopped by WattHub (stale or by an operator) and not yet by the charger itself."""
    flags = transactions_repo.split_flags(tx["flags"])
    return (FLAG_STALE in flags or FLAG_OPERATOR in flags) and FLAG_STOP_AFTER_CLOSE not in flags


async def close_in_write(
    conn: AsyncConnection, tx: dict[str, Any], cause: str, flags: tuple[str, ...]
) -> Closed:
    """Stop ``tx`` from its last reading; runs inside a writer operation."""
    reading = await transactions_repo.last_energy_reading(conn, tx["id"], tx["meter_start"])
    stop_time, meter_stop = (
        reading if reading is not None else (tx["start_time"], tx["meter_start"])
    )
    await transactions_repo.stop_transaction(
        conn,
        tx["id"],
        meter_stop=meter_stop,
        stop_time=stop_time,
        stop_reason=CLOSED_STOP_REASON,
        stop_id_tag=None,
    )
    await transactions_repo.add_flag(conn, tx["id"], *flags)
    return Closed(tx["station_id"], tx["id"], tx["connector_id"], meter_stop, stop_time, cause)


async def close_stale_in_write(
    conn: AsyncConnection, stale: list[dict[str, Any]], cause: str
) -> list[Closed]:
    return [
        await close_in_write(conn, tx, cause, (FLAG_STALE, f"staleCause={cause}")) for tx in stale
    ]


def announce(services: Services, closed: list[Closed]) -> None:
    """After the commit: the stopped event (sites free the share, smart charging forgets the
    TxProfiles) and, for stale ones, ``transaction_stale_closed``."""
    for c in closed:
        services.events.emit(
            events.TRANSACTION_STOPPED,
            station_id=c.station_id,
            transaction_id=c.transaction_id,
            connector_id=c.connector_id,
            reason=CLOSED_STOP_REASON,
            closed_by="operator" if c.cause == "operator" else "stale",
        )
        if c.cause != "operator":
            services.events.emit(
                events.TRANSACTION_STALE_CLOSED,
                station_id=c.station_id,
                transaction_id=c.transaction_id,
                connector_id=c.connector_id,
                cause=c.cause,
                meter_stop=c.meter_stop,
                stop_time=format_ts(c.stop_time),
            )


def note_boot(ctx: StationContext, booted_at: datetime) -> None:
    ctx.booted_at = booted_at
    ctx.reported_since_boot = set()


async def status_after_boot(ctx: StationContext, connector_id: int, status: str) -> None:
    """The first status of a connector after a BootNotification: Available/Preparing means the
    charger has no transaction there, so the ones it had before the boot are stale."""
    booted_at = ctx.booted_at
    if booted_at is None or connector_id <= 0 or connector_id in ctx.reported_since_boot:
        return
    ctx.reported_since_boot.add(connector_id)
    if status not in FREE_STATES:
        return
    station_id = ctx.station_id

    async def op(conn: AsyncConnection) -> list[Closed]:
        txs = await transactions_repo.open_transactions(conn, station_id, connector_id)
        before = [tx for tx in txs if (as_utc(tx["created_at"]) or booted_at) < booted_at]
        return await close_stale_in_write(conn, before, "boot")

    closed = await ctx.services.writer.run(op)
    for c in closed:
        ctx.log.warning(
            "transaction %s closed as stale: connector %s reported %s after a reboot",
            c.transaction_id,
            connector_id,
            status,
        )
    announce(ctx.services, closed)


def clean_reason(reason: str) -> str:
    """An operator's reason as one flag: no control characters, no commas (the flag
    separator), at most ``REASON_MAX`` characters."""
    text = re.sub(r"[\x00-\x1f\x7f]", " ", reason).replace(",", ";").strip()
    return text[:REASON_MAX]


async def close_by_operator(
    services: Services, transaction_id: int, reason: str
) -> tuple[str, dict[str, Any] | None]:
    """("closed" | "unknown" | "already_stopped", the transaction afterwards)."""
    text = clean_reason(reason)

    async def op(conn: AsyncConnection) -> tuple[str, Closed | None, dict[str, Any] | None]:
        tx = await transactions_repo.get_transaction(conn, transaction_id)
        if tx is None:
            return "unknown", None, None
        if tx["stop_time"] is not None:
            return "already_stopped", None, tx
        flags = (FLAG_OPERATOR, f"closeReason={text}")
        closed = await close_in_write(conn, tx, "operator", flags)
        return "closed", closed, await transactions_repo.get_transaction(conn, transaction_id)

    outcome, closed, tx = await services.writer.run(op)
    if closed is not None:
        announce(services, [closed])
    return outcome, tx
