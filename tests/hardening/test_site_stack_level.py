"""Site limits and third-party chargers (issue #11 §4): the station's ChargeProfileMaxStackLevel is
respected, a refused limit is a failure the operator sees, and a refusing station is counted at
its maximum when the site's capacity is shared."""

from __future__ import annotations

from typing import Any

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint


def strict_stack_level(cp: TestChargePoint, maximum: int) -> None:
    """A charger like the one in the issue: reports its maximum, refuses profiles above it."""
    cp.answers["GetConfiguration"] = lambda request: {
        "configurationKey": [
            {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": str(maximum)}
        ]
    }

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if request["csChargingProfiles"]["stackLevel"] > maximum:
            return {"status": "Rejected"}
        return {"status": "Accepted"}

    cp.answers["SetChargingProfile"] = answer


async def _settle(csms: Csms) -> dict[str, Any]:
    await csms.hub.services.events.drain()
    return (await csms.api.get("/sites/depot")).json()  # type: ignore[no-any-return]


async def test_site_profile_respects_the_station_max_stack_level(csms: Csms) -> None:
    await csms.add_tag("T1")
    site = await csms.api.post("/sites", json={"id": "depot", "limit": 24, "unit": "A"})
    assert site.status_code == 201, site.text
    cp = await csms.connect("S8")
    await cp.booted()
    strict_stack_level(cp, 8)
    assert (await csms.api.put("/sites/depot/stations/S8")).status_code == 200
    tx = await cp.charging("T1")
    view = await _settle(csms)
    # Asked once, then stackLevel 8 (not the default 9): accepted, and allocated.
    assert cp.sent("GetConfiguration") == [{"key": ["ChargeProfileMaxStackLevel"]}]
    [profile] = cp.sent("SetChargingProfile")
    assert profile["csChargingProfiles"]["stackLevel"] == 8
    assert [(a["transactionId"], a["limit"], a["refused"]) for a in view["allocation"]] == [
        (tx, 24.0, False)
    ]
    # Cached: a later change sends again without asking again.
    response = await csms.api.patch("/sites/depot", json={"limit": 20})
    assert response.status_code == 200, response.text
    assert len(cp.sent("GetConfiguration")) == 1
    assert cp.sent("SetChargingProfile")[-1]["csChargingProfiles"]["stackLevel"] == 8


async def test_refused_limit_is_reported_and_counted_at_the_maximum(csms: Csms) -> None:
    for tag in ("T1", "T2"):
        await csms.add_tag(tag)
    site = await csms.api.post(
        "/sites", json={"id": "depot", "limit": 32, "unit": "A", "maxPerConnector": 16}
    )
    assert site.status_code == 201, site.text
    good = await csms.connect("GOOD")
    await good.booted()
    good.answers["SetChargingProfile"] = {"status": "Accepted"}
    bad = await csms.connect("BAD")
    await bad.booted()
    bad.answers["SetChargingProfile"] = {"status": "Rejected"}
    for name in ("GOOD", "BAD"):
        assert (await csms.api.put(f"/sites/depot/stations/{name}")).status_code == 200
    tx_good = await good.charging("T1")
    tx_bad = await bad.charging("T2")
    view = await _settle(csms)
    allocation = {a["transactionId"]: (a["limit"], a["refused"]) for a in view["allocation"]}
    # The refusing station draws what it likes (counted at maxPerConnector 16 A); the other
    # gets what is left, never the equal share that would overload the site.
    assert allocation[tx_bad] == (16.0, True)
    assert allocation[tx_good] == (16.0, False)
    assert view["allocated"] <= 32

    # The operator sees a refusal as a failure, not a 200.
    response = await csms.api.patch("/sites/depot", json={"limit": 24})
    assert response.status_code == 502, response.text
    body = response.json()
    assert [e["transactionId"] for e in body["refused"]] == [tx_bad]
    assert body["refused"][0]["answer"] in ("Rejected", "refused earlier")
    allocation = {a["transactionId"]: (a["limit"], a["refused"]) for a in body["allocation"]}
    assert allocation == {tx_bad: (16.0, True), tx_good: (8.0, False)}
    # It is not asked again on every rebalance (that was a profile it rejects each time).
    asked = len(bad.sent("SetChargingProfile"))
    assert (await csms.api.patch("/sites/depot", json={"limit": 23})).status_code == 502
    assert len(bad.sent("SetChargingProfile")) == asked
    # Once its transaction ends, the site is under control again: 200.
    await bad.stop_transaction(tx_bad)
    await csms.hub.services.events.drain()
    response = await csms.api.patch("/sites/depot", json={"limit": 24})
    assert response.status_code == 200, response.text
    assert [(a["transactionId"], a["limit"]) for a in response.json()["allocation"]] == [
        (tx_good, 24.0)
    ]
