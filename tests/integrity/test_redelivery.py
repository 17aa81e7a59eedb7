"""Redelivered transaction messages (issue #11 §1, §5): OCPP 1.6 makes a charger resend a
transaction message until it is answered and gives it no idempotency key, so each message is sent
twice here — with the same message id after its answer, and with a new one — and WattHub must
answer the second exactly like the first and store nothing twice."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import Csms
from tests.integrity.helpers import WriteLock, flags, meter_row_count, stored_transactions
from tests.protocol.raw import RawStation
from watthub.domain import core
from watthub.domain.context import StationContext
from watthub.storage.tables import transactions
from watthub.timeutil import format_ts


def _ts(seconds: float) -> str:
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    return format_ts(base + timedelta(seconds=seconds))


def _meter_values(tx_id: int, seconds: float, wh: int) -> dict[str, object]:
    return {
        "connectorId": 1,
        "transactionId": tx_id,
        "meterValue": [
            {
                "timestamp": _ts(seconds),
                "sampledValue": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
                ],
            }
        ],
    }


async def test_every_transaction_message_sent_twice_is_stored_once(csms: Csms) -> None:
    await csms.add_station("CP1")
    await csms.add_tag("TAG1")
    raw = await RawStation.open(csms.url("CP1"))
    await raw.boot()

    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": _ts(0)}
    first = await raw.call("start-1", "StartTransaction", start)
    assert first[0] == 3 and first[2]["idTagInfo"]["status"] == "Accepted", first
    tx_id = first[2]["transactionId"]
    # The same message id reused after its answer, then a new id; and the same instant written
    # differently (a charger's retry may format its clock anew).
    again = await raw.call("start-1", "StartTransaction", start)
    renamed = await raw.call("start-2", "StartTransaction", start)
    reformatted = await raw.call(
        "start-3", "StartTransaction", {**start, "timestamp": "2026-03-01T08:00:00+00:00"}
    )
    for answer in (again, renamed, reformatted):
        assert answer[0] == 3, answer
        # The existing transaction and its idTagInfo: never a new id, never ConcurrentTx.
        assert answer[2] == first[2], answer

    sample = _meter_values(tx_id, 60, 1500)
    for message_id in ("mv-1", "mv-1", "mv-2"):
        assert await raw.call(message_id, "MeterValues", sample) == [3, message_id, {}]
    assert await meter_row_count(csms, "CP1") == 3  # three sampled values, stored once
    # A different reading is stored: only identical content is a duplicate.
    assert (await raw.call("mv-3", "MeterValues", _meter_values(tx_id, 120, 1900)))[0] == 3
    assert await meter_row_count(csms, "CP1") == 6

    stop = {
        "transactionId": tx_id,
        "meterStop": 2100,
        "timestamp": _ts(180),
        "idTag": "TAG1",
        "reason": "EVDisconnected",
        "transactionData": [
            {
                "timestamp": _ts(180),
                "sampledValue": [{"value": "2100", "context": "Transaction.End"}],
            }
        ],
    }
    answers = [await raw.call(m, "StopTransaction", stop) for m in ("stop-1", "stop-1", "stop-2")]
    assert all(a[0] == 3 and a[2]["idTagInfo"]["status"] == "Accepted" for a in answers), answers
    assert await meter_row_count(csms, "CP1") == 7  # transactionData stored once

    (tx,) = await stored_transactions(csms, "CP1")
    assert tx["id"] == tx_id and tx["meter_start"] == 1000 and tx["meter_stop"] == 2100
    assert tx["stop_reason"] == "EVDisconnected"
    assert "repeated_stop" in flags(tx)  # StopTransaction stays idempotent and flagged
    await raw.close()


async def test_redelivered_start_keeps_the_verdict_of_the_first_time(csms: Csms) -> None:
    """The idTagInfo decided the first time is stored with the transaction: a redelivery after
    the tag was blocked (or while the transaction itself is running, which a re-evaluation would
    call ConcurrentTx) answers what the charger was told the first time."""
    await csms.add_station("CP1")
    await csms.add_tag("TAG1", expiryDate="2031-01-01T00:00:00Z", parentIdTag="FLEET")
    raw = await RawStation.open(csms.url("CP1"))
    await raw.boot()
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": _ts(0)}
    first = await raw.call("start-1", "StartTransaction", start)
    info = first[2]["idTagInfo"]
    assert info == {
        "status": "Accepted",
        "expiryDate": "2031-01-01T00:00:00.000Z",
        "parentIdTag": "FLEET",
    }
    await csms.add_tag("TAG1", status="Blocked")
    again = await raw.call("start-2", "StartTransaction", start)
    assert again[2] == first[2], again
    # A genuinely new start of the blocked tag is decided anew.
    other = await raw.call("start-3", "StartTransaction", {**start, "connectorId": 2})
    assert other[2]["idTagInfo"]["status"] == "Blocked"
    assert other[2]["transactionId"] != first[2]["transactionId"]
    assert len(await stored_transactions(csms, "CP1")) == 2
    await raw.close()


async def test_two_identical_starts_in_one_commit_group_are_one_transaction(csms: Csms) -> None:
    """The batched writer commits many messages at once: a start and its redelivery (e.g. over
    a replacing connection) in the same commit group must still be one transaction."""
    await csms.add_station("CP1")
    await csms.add_tag("TAG1")
    services = csms.hub.services
    writer = services.writer
    log = logging.LoggerAdapter(logging.getLogger("test"), {"station": "CP1"})
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 5, "timestamp": _ts(0)}

    async with WriteLock(csms.hub.settings.database_url) as stall:
        # A first commit group stuck on the database; both starts queue up behind it.
        blocked = asyncio.create_task(writer.run(_touch_transactions))
        await asyncio.sleep(0.2)
        batches = writer.batches
        contexts = [StationContext("CP1", services, {"id": "CP1"}, log) for _ in range(2)]
        both = asyncio.gather(*(core.start_transaction(c, dict(start)) for c in contexts))
        await asyncio.sleep(0.2)
        assert writer.backlog >= 2  # both starts wait in the queue, to be drained together
        await stall.release()
        first, second = await both
        await blocked
    assert writer.batches == batches + 2  # the stuck group, then one group with both starts
    assert first == second and first["idTagInfo"]["status"] == "Accepted"
    assert [tx["id"] for tx in await stored_transactions(csms, "CP1")] == [first["transactionId"]]


async def _touch_transactions(conn: AsyncConnection) -> None:
    # Writes the table the lock holds: waits until the lock is released.
    await conn.execute(update(transactions).where(transactions.c.id == -1).values(flags=""))
