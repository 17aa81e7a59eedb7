"""Site power limits end to end: several simulated stations charging at once share a site limit;
the sum of the limits the stations have accepted never exceeds it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.conftest import Csms, start_csms
from tests.support.chargepoint import TestChargePoint
from tests.support.poll import eventually
from watthub.domain.sites import RESEND_DELAY


class LimitWatch:
    """Every station's SetChargingProfile answer goes through here: it records the limit per
    transaction and checks the running sum against the site limit at each step."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.current: dict[int, float] = {}
        self.history: list[tuple[int, float]] = []
        self.peak = 0.0

    def answer_for(self, station: TestChargePoint) -> None:
        def answer(request: dict[str, Any]) -> dict[str, Any]:
            cs = request["csChargingProfiles"]
            assert cs["chargingProfilePurpose"] == "TxProfile"
            assert cs["stackLevel"] == 7
            [period] = cs["chargingSchedule"]["chargingSchedulePeriod"]
            tx = cs["transactionId"]
            previous = self.current.get(tx)
            self.current[tx] = float(period["limit"])
            self.history.append((tx, float(period["limit"])))
            if previous is None or self.current[tx] > previous:
                # An increase (or a first limit) must fit: the sum stays within the site limit.
                # (Right after a limit is lowered only decreases come, until the sum fits.)
                assert self.total() <= self.limit + 1e-9, (self.current, self.limit)
            self.peak = max(self.peak, self.total())
            return {"status": "Accepted"}

        station.answers["SetChargingProfile"] = answer

    def total(self) -> float:
        return round(sum(self.current.values()), 1)

    def stopped(self, tx: int) -> None:
        self.current.pop(tx, None)


async def test_site_limit_shared_across_stations(csms: Csms) -> None:
    for tag in ("T1", "T2", "T3"):
        await csms.add_tag(tag)
    site = await csms.api.post(
        "/sites",
        json={"id": "depot", "limit": 32, "unit": "A", "minPerConnector": 6, "stackLevel": 7},
    )
    assert site.status_code == 201, site.text
    watch = LimitWatch(32)
    stations = []
    for name in ("S1", "S2", "S3"):
        cp = await csms.connect(name)
        await cp.booted()
        watch.answer_for(cp)
        assert (await csms.api.put(f"/sites/depot/stations/{name}")).status_code == 200
        stations.append(cp)
    s1, s2, s3 = stations

    async def settle() -> dict[str, Any]:
        await csms.hub.services.events.drain()
        return (await csms.api.get("/sites/depot/allocation")).json()  # type: ignore[no-any-return]

    tx1 = await s1.charging("T1")
    alloc = await settle()
    assert [(a["transactionId"], a["limit"]) for a in alloc["allocation"]] == [(tx1, 32.0)]
    tx2 = await s2.charging("T2")
    alloc = await settle()
    assert {a["transactionId"]: a["limit"] for a in alloc["allocation"]} == {tx1: 16.0, tx2: 16.0}
    # S1 was lowered before S2 was given its share.
    assert watch.history[-2:] == [(tx1, 16.0), (tx2, 16.0)]
    tx3 = await s3.charging("T3")
    alloc = await settle()
    assert {a["transactionId"]: a["limit"] for a in alloc["allocation"]} == {
        tx1: 10.6,
        tx2: 10.6,
        tx3: 10.6,
    }
    assert alloc["allocated"] <= 32
    sent = s3.sent("SetChargingProfile")[-1]
    assert sent["connectorId"] == 1
    assert sent["csChargingProfiles"]["chargingProfileKind"] == "Relative"

    # Lower the limit: 3 × 6 A does not fit in 15 A, so the newest transaction gets 0 A.
    watch.limit = 15
    changed = await csms.api.patch("/sites/depot", json={"limit": 15})
    assert changed.status_code == 200, changed.text
    alloc = await settle()
    assert watch.total() <= 15
    assert [tx for tx, _ in watch.history[-3:]] == [tx3, tx1, tx2]  # biggest decrease first
    assert {a["transactionId"]: a["limit"] for a in alloc["allocation"]} == {
        tx1: 7.5,
        tx2: 7.5,
        tx3: 0.0,
    }

    # A transaction stops: the others share its part (and tx3 gets its minimum back).
    watch.stopped(tx1)
    await s1.stop_transaction(tx1)
    alloc = await settle()
    assert {a["transactionId"]: a["limit"] for a in alloc["allocation"]} == {tx2: 7.5, tx3: 7.5}

    # Raise the limit.
    watch.limit = 40
    await csms.api.patch("/sites/depot", json={"limit": 40})
    alloc = await settle()
    assert watch.total() == 40
    assert {a["transactionId"]: a["limit"] for a in alloc["allocation"]} == {tx2: 20.0, tx3: 20.0}
    assert watch.peak <= 40
    # S1's transaction ended: no profile was sent to S1 for anything else.
    assert {p["csChargingProfiles"]["transactionId"] for p in s1.sent("SetChargingProfile")} == {
        tx1
    }
    # WattHub's view of each station holds the site TxProfile it accepted.
    installed = (await csms.api.get("/stations/S2/charging-profiles")).json()
    assert [(e["transactionId"], e["stackLevel"]) for e in installed] == [(tx2, 7)]
    assert installed[0]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 20.0}
    ]


async def test_site_refused_decrease_blocks_increase(csms: Csms) -> None:
    """A station refusing its decrease keeps its old limit in the budget: the increase that the
    decrease would have paid for is capped, so the site limit still holds."""
    for tag in ("T1", "T2"):
        await csms.add_tag(tag)
    await csms.api.post("/sites", json={"id": "yard", "limit": 20, "stackLevel": 7})
    watch = LimitWatch(20)
    a = await csms.connect("A1")
    await a.booted()
    b = await csms.connect("B1")
    await b.booted()
    for cp in (a, b):
        watch.answer_for(cp)
        await csms.api.put(f"/sites/yard/stations/{cp.id}")
    tx_a = await a.charging("T1")
    await csms.hub.services.events.drain()
    a.answers["SetChargingProfile"] = {"status": "Rejected"}
    tx_b = await b.charging("T2")
    await csms.hub.services.events.drain()
    alloc = (await csms.api.get("/sites/yard/allocation")).json()
    assert {x["transactionId"]: x["limit"] for x in alloc["allocation"]} == {tx_a: 20.0, tx_b: 0.0}
    assert alloc["allocated"] <= 20


async def _drop_connection(csms: Csms, cp: TestChargePoint) -> None:
    """The station's WebSocket goes away (as on a network loss); WattHub sees it disconnect."""
    for entry in list(csms._stations):
        if entry[0] is cp:
            entry[2].cancel()
            await entry[1].close()
            csms._stations.remove(entry)

    async def connected() -> bool:
        return bool(csms.hub.services.gateway.is_connected(cp.id))

    await eventually(connected, lambda up: not up)


async def test_site_profile_resent_when_station_reconnects(csms: Csms) -> None:
    """site_resend_on_reconnect (default on): a site station that comes back gets the TxProfile
    of its running transaction again, once per reconnect (connect and boot coalesce)."""
    await csms.add_tag("T1")
    await csms.api.post("/sites", json={"id": "depot", "limit": 16, "stackLevel": 7})
    first = await csms.connect("S1")
    await first.booted()
    assert (await csms.api.put("/sites/depot/stations/S1")).status_code == 200
    tx = await first.charging("T1")
    await csms.hub.services.events.drain()
    [original] = first.sent("SetChargingProfile")
    assert original["csChargingProfiles"]["transactionId"] == tx

    # Reconnect without a BootNotification (the station kept running).
    await _drop_connection(csms, first)
    again = await csms.connect("S1")
    await csms.hub.services.events.drain()
    assert again.sent("SetChargingProfile") == [original]

    # A reboot: connect + BootNotification Accepted → one resend, after the boot. The charger
    # kept its transaction: its connector reports Charging (Available would close it as stale).
    await _drop_connection(csms, again)
    rebooted = await csms.connect("S1")
    assert (await rebooted.boot()).status == "Accepted"
    await rebooted.status(0, "Available")
    await rebooted.status(1, "Charging")
    await csms.hub.services.events.drain()
    assert rebooted.sent("SetChargingProfile") == [original]
    alloc = (await csms.api.get("/sites/depot/allocation")).json()
    assert {a["transactionId"]: a["limit"] for a in alloc["allocation"]} == {tx: 16.0}

    # A station outside any site gets nothing unsolicited.
    other = await csms.connect("LONE")
    await other.booted()
    await csms.hub.services.events.drain()
    assert other.sent("SetChargingProfile") == []


async def test_site_resend_on_reconnect_can_be_switched_off(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    hub, csms = await start_csms(
        backend, tmp_path, tmp_path_factory, site_resend_on_reconnect=False
    )
    try:
        await csms.add_tag("T1")
        await csms.api.post("/sites", json={"id": "depot", "limit": 16})
        first = await csms.connect("S1")
        await first.booted()
        await csms.api.put("/sites/depot/stations/S1")
        await first.charging("T1")
        await csms.hub.services.events.drain()
        assert len(first.sent("SetChargingProfile")) == 1
        await _drop_connection(csms, first)
        again = await csms.connect("S1")
        await again.booted()
        await asyncio.sleep(RESEND_DELAY + 0.3)
        await csms.hub.services.events.drain()
        assert again.sent("SetChargingProfile") == []
    finally:
        await csms.close_stations()
        await csms.api.aclose()
        await hub.stop()
