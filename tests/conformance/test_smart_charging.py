"""OCTT Smart Charging cases (reference §3.19) through the real server and API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conformance.core_helpers import assert_sent_only
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.smart_charging import format_ocpp_datetime


def _ts(delta_s: float = 0) -> str:
    return format_ocpp_datetime(datetime.now(UTC) + timedelta(seconds=delta_s))


def absolute_profile(
    profile_id: int,
    purpose: str,
    *,
    stack_level: int = 1,
    limit: float = 6.0,
    unit: str = "A",
    duration: int = 3600,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "validFrom": _ts(-60),
        "validTo": _ts(86400),
        "chargingSchedule": {
            "duration": duration,
            "startSchedule": _ts(-60),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
        **extra,
    }


async def installed(csms: Csms, station_id: str = "CP1") -> list[dict[str, Any]]:
    response = await csms.api.get(f"/stations/{station_id}/charging-profiles")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_tc_056_central_smart_charging_tx_default_profile(
    csms: Csms, station: TestChargePoint
) -> None:
    # The OCTT operator's way: the generic endpoint with the configured values.
    profile = absolute_profile(11, "TxDefaultProfile", stack_level=2, limit=6.0)
    response = await csms.command(
        "CP1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    sent = station.sent("SetChargingProfile")[-1]
    assert sent["connectorId"] == 1
    cs = sent["csChargingProfiles"]
    assert cs["chargingProfilePurpose"] == "TxDefaultProfile"
    assert cs["chargingProfileKind"] == "Absolute"
    assert cs["stackLevel"] == 2
    assert "validFrom" in cs and "validTo" in cs
    assert "transactionId" not in cs and "recurrencyKind" not in cs
    assert "startSchedule" in cs["chargingSchedule"]
    assert cs["chargingSchedule"]["duration"] == 3600
    assert cs["chargingSchedule"]["chargingRateUnit"] == "A"
    assert cs["chargingSchedule"]["chargingSchedulePeriod"][0] == {"startPeriod": 0, "limit": 6.0}
    [entry] = await installed(csms)
    assert (entry["connectorId"], entry["chargingProfileId"]) == (1, 11)

    # The library way: the same profile stored once, sent by id through the typed endpoint.
    body = {k: v for k, v in profile.items() if k != "chargingProfileId"}
    created = await csms.api.post("/charging-profiles", json={"name": "6 A default", **body})
    assert created.status_code == 201, created.text
    library_id = created.json()["id"]
    response = await csms.api.post(
        "/stations/CP1/charging-profiles", json={"connectorId": 1, "profileId": library_id}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    sent = station.sent("SetChargingProfile")[-1]
    assert sent["csChargingProfiles"]["chargingProfileId"] == library_id
    assert sent["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 6
    # Same stackLevel + purpose on the same connector: the library profile replaced profile 11.
    assert [e["chargingProfileId"] for e in await installed(csms)] == [library_id]
    await assert_sent_only(station, "SetChargingProfile", "SetChargingProfile")


async def test_tc_057_central_smart_charging_tx_profile(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    # No transaction yet: WattHub refuses a TxProfile with the reason (the station would reject).
    idle = await csms.api.post(
        "/stations/CP1/charging-profiles",
        json={"connectorId": 1, "chargingProfile": absolute_profile(21, "TxProfile")},
    )
    assert idle.status_code == 422
    assert "active transaction" in idle.json()["detail"]
    assert station.sent("SetChargingProfile") == []

    tx = await station.charging("TAG1")
    # Typed endpoint: the transactionId is filled in with the connector's running transaction.
    response = await csms.api.post(
        "/stations/CP1/charging-profiles",
        json={"connectorId": 1, "chargingProfile": absolute_profile(21, "TxProfile", limit=10)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    sent = station.sent("SetChargingProfile")[-1]
    cs = sent["csChargingProfiles"]
    assert sent["connectorId"] == 1
    assert cs["chargingProfilePurpose"] == "TxProfile"
    assert cs["transactionId"] == tx
    assert "recurrencyKind" not in cs
    assert cs["chargingProfileKind"] == "Absolute"
    assert {"validFrom", "validTo"} <= set(cs)
    assert {"startSchedule", "duration"} <= set(cs["chargingSchedule"])

    # Generic endpoint, Relative kind (no startSchedule), the OCTT's free-form values.
    relative = {
        "chargingProfileId": 22,
        "transactionId": tx,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6000.0}],
        },
    }
    response = await csms.command(
        "CP1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": relative}
    )
    assert response.status_code == 200, response.text
    assert station.sent("SetChargingProfile")[-1]["csChargingProfiles"] == relative
    # Same stackLevel + purpose on connector 1: 22 replaced 21.
    entries = await installed(csms)
    assert [(e["chargingProfileId"], e["transactionId"]) for e in entries] == [(22, tx)]
    await assert_sent_only(station, "SetChargingProfile", "SetChargingProfile")


async def test_tc_066_get_composite_schedule(csms: Csms, station: TestChargePoint) -> None:
    profile = absolute_profile(31, "TxDefaultProfile", limit=16.0, duration=7200)
    assert (
        await csms.command(
            "CP1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}
        )
    ).json()["status"] == "Accepted"

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": "Accepted",
            "connectorId": request["connectorId"],
            "scheduleStart": _ts(),
            "chargingSchedule": {
                "duration": request["duration"],
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}],
            },
        }

    station.answers["GetCompositeSchedule"] = answer
    response = await csms.api.post(
        "/stations/CP1/composite-schedule",
        json={"connectorId": 1, "duration": 600, "chargingRateUnit": "A"},
    )
    assert response.status_code == 200, response.text
    sent = station.sent("GetCompositeSchedule")[-1]
    assert sent == {"connectorId": 1, "duration": 600, "chargingRateUnit": "A"}
    body = response.json()
    assert body["station"]["status"] == "Accepted"
    assert body["watthub"]["chargingSchedulePeriod"][0]["limit"] == 16.0
    assert body["differences"] == []

    # A station that disagrees: the differences say where.
    station.answers["GetCompositeSchedule"] = lambda req: {
        **answer(req),
        "chargingSchedule": {
            "duration": req["duration"],
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        },
    }
    response = await csms.command(
        "CP1", "GetCompositeSchedule", {"connectorId": 1, "duration": 600, "chargingRateUnit": "A"}
    )
    assert response.status_code == 200, response.text  # generic endpoint: the station's answer
    typed = await csms.api.post(
        "/stations/CP1/composite-schedule", json={"connectorId": 1, "duration": 600}
    )
    diffs = typed.json()["differences"]
    assert diffs and "ours 16.0 A, theirs 10.0 A" in diffs[0]


async def test_tc_067_clear_charging_profile(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    profiles = [
        (0, absolute_profile(41, "ChargePointMaxProfile", stack_level=3, limit=32)),
        (1, absolute_profile(42, "TxDefaultProfile", stack_level=3, limit=16)),
        (1, absolute_profile(43, "TxProfile", stack_level=3, limit=10, transactionId=tx)),
    ]
    for connector, profile in profiles:
        response = await csms.command(
            "CP1", "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": profile}
        )
        assert response.json()["status"] == "Accepted", response.text
    sent_ids = [
        p["csChargingProfiles"]["chargingProfileId"] for p in station.sent("SetChargingProfile")
    ]
    assert len(set(sent_ids)) == 3
    shapes = [
        (
            p["connectorId"],
            p["csChargingProfiles"]["chargingProfilePurpose"],
            p["csChargingProfiles"]["stackLevel"],
            p["csChargingProfiles"].get("transactionId"),
        )
        for p in station.sent("SetChargingProfile")
    ]
    assert shapes == [
        (0, "ChargePointMaxProfile", 3, None),
        (1, "TxDefaultProfile", 3, None),
        (1, "TxProfile", 3, tx),
    ]
    assert sorted(e["chargingProfileId"] for e in await installed(csms)) == [41, 42, 43]

    # 1. By id only.
    response = await csms.api.post("/stations/CP1/charging-profiles/clear", json={"id": 41})
    assert response.json()["status"] == "Accepted", response.text
    assert station.sent("ClearChargingProfile")[-1] == {"id": 41}
    assert sorted(e["chargingProfileId"] for e in await installed(csms)) == [42, 43]
    # 2. By criteria (generic endpoint).
    criteria = {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 3}
    response = await csms.command("CP1", "ClearChargingProfile", criteria)
    assert response.json()["status"] == "Accepted"
    assert station.sent("ClearChargingProfile")[-1] == criteria
    assert [e["chargingProfileId"] for e in await installed(csms)] == [43]
    # 3. Everything.
    response = await csms.api.post("/stations/CP1/charging-profiles/clear", json={})
    assert response.json()["status"] == "Accepted"
    assert station.sent("ClearChargingProfile")[-1] == {}
    assert await installed(csms) == []
    await assert_sent_only(station, *["SetChargingProfile"] * 3, *["ClearChargingProfile"] * 3)


async def test_tc_059_remote_start_transaction_with_charging_profile(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    profile = {
        "chargingProfileId": 51,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}],
        },
    }
    # Core's typed remote-start endpoint carries the profile through the same hooks.
    response = await csms.api.post(
        "/stations/CP1/remote-start",
        json={"idTag": "TAG1", "connectorId": 1, "chargingProfile": profile},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    sent = station.sent("RemoteStartTransaction")[-1]
    assert sent["idTag"] == "TAG1" and sent["connectorId"] == 1
    cp = sent["chargingProfile"]
    assert cp["chargingProfilePurpose"] == "TxProfile"
    assert "transactionId" not in cp and "recurrencyKind" not in cp
    assert cp["chargingSchedule"]["chargingSchedulePeriod"][0]["startPeriod"] == 0
    assert "startSchedule" not in cp["chargingSchedule"]
    tx = await station.charging("TAG1")  # Authorize, Preparing, StartTransaction, Charging
    assert [e["chargingProfileId"] for e in await installed(csms)] == [51]

    # A TxProfile with a transactionId is refused in a remote start (it cannot exist yet).
    bad = await csms.command(
        "CP1",
        "RemoteStartTransaction",
        {"idTag": "TAG1", "connectorId": 1, "chargingProfile": {**profile, "transactionId": 1}},
    )
    assert bad.status_code == 422
    assert "must not carry a transactionId" in bad.json()["detail"]

    # The library way through the dedicated endpoint.
    stored = {k: v for k, v in profile.items() if k != "chargingProfileId"}
    library_id = (await csms.api.post("/charging-profiles", json=stored)).json()["id"]
    response = await csms.api.post(
        "/stations/CP1/remote-start-with-profile",
        json={"idTag": "TAG1", "connectorId": 1, "profileId": library_id},
    )
    assert response.status_code == 200, response.text
    assert station.sent("RemoteStartTransaction")[-1]["chargingProfile"]["chargingProfileId"] == (
        library_id
    )

    # The transaction ends: its TxProfiles disappear from WattHub's view.
    await station.stop_transaction(tx)
    await csms.hub.services.events.drain()
    assert await installed(csms) == []
