"""Stale transactions close themselves (issue #11 §1): a charger that lost a transaction (reboot,
power loss) never stops it, so a new start on its connector, or the connector reporting
Available/Preparing first thing after a BootNotification, closes the older one — flagged, with
stop reason Other and meterStop/stop time from its last reading — and announces it (sites free its
share). ConcurrentTx is decided on transactions that really run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call

from tests.conftest import Csms
from tests.integrity.helpers import flags, stored_transactions
from tests.support.chargepoint import TestChargePoint
from watthub.domain import events
from watthub.timeutil import as_utc, format_ts

# After the "now" of the statuses `booted()` sends: a connector's status only moves forward in time.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


def ts(seconds: float) -> str:
    return format_ts(T0 + timedelta(seconds=seconds))


async def energy(cp: TestChargePoint, tx: int, seconds: float, value: str, unit: str) -> None:
    sample = {"value": value, "measurand": "Energy.Active.Import.Register", "unit": unit}
    current = {"value": "16", "measurand": "Current.Import", "unit": "A"}
    await cp.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=tx,
            meter_value=[{"timestamp": ts(seconds), "sampledValue": [sample, current]}],
        )
    )


def record(csms: Csms, *names: str) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def listener(event: str, data: dict[str, Any]) -> None:
        if event in names:
            seen.append((event, data))

    csms.hub.services.events.subscribe_all(listener)
    return seen


async def by_id(csms: Csms, station_id: str) -> dict[int, dict[str, Any]]:
    return {tx["id"]: tx for tx in await stored_transactions(csms, station_id)}


async def test_a_new_start_closes_the_older_open_transaction_of_its_connector(csms: Csms) -> None:
    await csms.add_tag("TAG1")
    seen = record(csms, events.TRANSACTION_STOPPED, events.TRANSACTION_STALE_CLOSED)
    cp = await csms.connect("CP1")
    await cp.booted()
    lost = (await cp.start_transaction("TAG1", 1, meter_start=1000, timestamp=ts(0))).transaction_id
    await energy(cp, lost, 60, "1500", "Wh")
    await energy(cp, lost, 120, "1.8", "kWh")  # the last reading, in kWh
    # The charger lost `lost` and starts anew with the same tag on the same connector: not
    # ConcurrentTx against its own phantom.
    new = await cp.start_transaction("TAG1", 1, meter_start=2000, timestamp=ts(600))
    assert new.id_tag_info["status"] == "Accepted"
    await csms.hub.services.events.drain()

    txs = await by_id(csms, "CP1")
    closed = txs[lost]
    assert closed["meter_stop"] == 1800 and as_utc(closed["stop_time"]) == T0 + timedelta(
        seconds=120
    )
    assert closed["stop_reason"] == "Other"
    assert flags(closed) == ["staleClosed", "staleCause=newStart"]
    assert txs[new.transaction_id]["stop_time"] is None
    assert seen == [
        (
            events.TRANSACTION_STOPPED,
            {
                "station_id": "CP1",
                "transaction_id": lost,
                "connector_id": 1,
                "reason": "Other",
                "closed_by": "stale",
            },
        ),
        (
            events.TRANSACTION_STALE_CLOSED,
            {
                "station_id": "CP1",
                "transaction_id": lost,
                "connector_id": 1,
                "cause": "newStart",
                "meter_stop": 1800,
                "stop_time": ts(120),
            },
        ),
    ]
    view = (await csms.api.get(f"/transactions/{lost}")).json()
    assert view["active"] is False and view["energyWh"] == 800

    # Without any reading: meterStop = meterStart, stop time = start time.
    third = await cp.start_transaction("TAG1", 1, meter_start=5000, timestamp=ts(900))
    txs = await by_id(csms, "CP1")
    second = txs[new.transaction_id]
    assert second["meter_stop"] == 2000 and as_utc(second["stop_time"]) == T0 + timedelta(
        seconds=600
    )
    assert txs[third.transaction_id]["stop_time"] is None

    # The charger's own StopTransaction, arriving late, replaces WattHub's estimate (once).
    await cp.stop_transaction(lost, meter_stop=1900, timestamp=ts(130), reason="PowerLoss")
    await cp.stop_transaction(lost, meter_stop=1900, timestamp=ts(130), reason="PowerLoss")
    closed = (await by_id(csms, "CP1"))[lost]
    assert closed["meter_stop"] == 1900 and closed["stop_reason"] == "PowerLoss"
    assert flags(closed) == [
        "staleClosed",
        "staleCause=newStart",
        "stopAfterClose",
        "repeated_stop",
    ]


async def test_available_after_a_reboot_closes_the_transactions_from_before(csms: Csms) -> None:
    await csms.add_tag("TAG1")
    await csms.add_tag("TAG2", allowConcurrentTx=True)
    cp = await csms.connect("CP1")
    await cp.booted(connectors=3)
    a = (await cp.start_transaction("TAG1", 1, meter_start=10, timestamp=ts(0))).transaction_id
    b = (await cp.start_transaction("TAG2", 2, meter_start=20, timestamp=ts(5))).transaction_id
    await energy(cp, a, 60, "75", "Wh")
    # Without a reboot an Available is no proof: the StopTransaction may be on its way.
    await cp.status(1, "Available")
    assert (await by_id(csms, "CP1"))[a]["stop_time"] is None

    assert (await cp.boot()).status == "Accepted"
    c = (await cp.start_transaction("TAG2", 3, meter_start=30, timestamp=ts(700))).transaction_id
    await cp.status(1, "Available")  # first status after the boot: `a` is stale
    await cp.status(2, "SuspendedEV")  # `b` runs on (a charger resuming its transaction)
    await cp.status(3, "Preparing")  # `c` started after the boot: not stale
    await cp.status(2, "Available")  # not the first status after the boot: nothing to infer
    txs = await by_id(csms, "CP1")
    assert txs[a]["meter_stop"] == 75 and flags(txs[a]) == ["staleClosed", "staleCause=boot"]
    assert as_utc(txs[a]["stop_time"]) == T0 + timedelta(seconds=60)
    assert txs[b]["stop_time"] is None and txs[c]["stop_time"] is None


async def test_concurrent_tx_counts_only_running_transactions(csms: Csms) -> None:
    await csms.add_tag("TAG1")
    await csms.add_tag("TAG2")
    cp1 = await csms.connect("CP1")
    await cp1.booted(connectors=2)
    cp2 = await csms.connect("CP2")
    await cp2.booted(connectors=2)
    lost = await cp1.start_transaction("TAG1", 1, timestamp=ts(0))
    await cp1.status(1, "Available", timestamp=ts(30))  # its connector is free: not running
    running = await cp1.start_transaction("TAG2", 2, timestamp=ts(0))
    await cp1.status(2, "Charging", timestamp=ts(30))

    elsewhere = await cp2.start_transaction("TAG1", 1, timestamp=ts(60))
    assert elsewhere.id_tag_info["status"] == "Accepted"  # ConcurrentTx before the fix
    refused = await cp2.start_transaction("TAG2", 2, timestamp=ts(60))
    assert refused.id_tag_info["status"] == "ConcurrentTx"
    # A ConcurrentTx transaction does not run either: the next start of TAG2 is refused only
    # because of `running`, which stops now.
    await cp1.stop_transaction(running.transaction_id, meter_stop=100, timestamp=ts(90))
    again = await cp2.start_transaction("TAG2", 1, timestamp=ts(120))
    assert again.id_tag_info["status"] == "Accepted", again
    txs = await by_id(csms, "CP1")
    assert txs[lost.transaction_id]["stop_time"] is None  # not closed: only not counted


async def test_a_stale_transaction_frees_its_share_of_a_site(csms: Csms) -> None:
    """The simulator's case: after a restart the phantom transaction kept its share of the site
    limit. Closed as stale, it is announced as stopped and the site shares without it."""
    await csms.add_tag("T1")
    await csms.add_tag("T2")
    site = await csms.api.post(
        "/sites", json={"id": "depot", "limit": 12, "minPerConnector": 6, "stackLevel": 7}
    )
    assert site.status_code == 201, site.text
    s1 = await csms.connect("S1")
    await s1.booted()
    s2 = await csms.connect("S2")
    await s2.booted()
    for name in ("S1", "S2"):
        assert (await csms.api.put(f"/sites/depot/stations/{name}")).status_code == 200
    phantom = await s1.charging("T1")
    real = await s2.charging("T2")

    async def allocation() -> dict[int, float]:
        await csms.hub.services.events.drain()
        alloc = (await csms.api.get("/sites/depot/allocation")).json()
        return {a["transactionId"]: a["limit"] for a in alloc["allocation"]}

    assert await allocation() == {phantom: 6.0, real: 6.0}
    # S1 restarts and lost its transaction: boot, connector 1 Available.
    assert (await s1.boot()).status == "Accepted"
    await s1.status(1, "Available")
    assert await allocation() == {real: 12.0}
    assert s2.sent("SetChargingProfile")[-1]["csChargingProfiles"]["chargingSchedule"][
        "chargingSchedulePeriod"
    ] == [{"startPeriod": 0, "limit": 12.0}]
