"""Smart Charging bookkeeping (replace, clear by criteria, transaction end), the profile library,
refuse-vs-warn checks, WattHub's composite schedule and the preview."""

from __future__ import annotations

from typing import Any

from tests.conformance.test_smart_charging import absolute_profile, installed
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint


async def _set(csms: Csms, connector: int, profile: dict[str, Any]) -> dict[str, Any]:
    response = await csms.command(
        "CP1", "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": profile}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _ids(entries: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(e["connectorId"], e["chargingProfileId"]) for e in entries]


async def test_replacement_rules_and_rejected_answers(csms: Csms, station: TestChargePoint) -> None:
    await _set(csms, 1, absolute_profile(1, "TxDefaultProfile", stack_level=1))
    await _set(csms, 1, absolute_profile(2, "TxDefaultProfile", stack_level=2))
    await _set(csms, 0, absolute_profile(3, "TxDefaultProfile", stack_level=1))
    assert _ids(await installed(csms)) == [(1, 1), (1, 2), (0, 3)]
    # Same id on another connector replaces it there.
    await _set(csms, 0, absolute_profile(2, "TxDefaultProfile", stack_level=5))
    assert _ids(await installed(csms)) == [(1, 1), (0, 3), (0, 2)]
    # Same stackLevel + purpose on the same connector replaces, whatever the id.
    await _set(csms, 1, absolute_profile(9, "TxDefaultProfile", stack_level=1, limit=8))
    entries = await installed(csms)
    assert _ids(entries) == [(0, 3), (0, 2), (1, 9)]
    assert (
        entries[-1]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
        == 8
    )
    # A station that rejects: nothing changes in WattHub's view, the answer is returned.
    station.answers["SetChargingProfile"] = {"status": "Rejected"}
    answer = await _set(csms, 1, absolute_profile(10, "TxDefaultProfile", stack_level=1))
    assert answer["status"] == "Rejected"
    assert _ids(await installed(csms)) == [(0, 3), (0, 2), (1, 9)]


async def test_clear_by_criteria_only_when_accepted(csms: Csms, station: TestChargePoint) -> None:
    await _set(csms, 0, absolute_profile(1, "ChargePointMaxProfile", stack_level=1, limit=32))
    await _set(csms, 0, absolute_profile(2, "TxDefaultProfile", stack_level=1))
    await _set(csms, 1, absolute_profile(3, "TxDefaultProfile", stack_level=1))
    await _set(csms, 1, absolute_profile(4, "TxDefaultProfile", stack_level=2))
    station.answers["ClearChargingProfile"] = {"status": "Unknown"}
    response = await csms.api.post(
        "/stations/CP1/charging-profiles/clear", json={"chargingProfilePurpose": "TxDefaultProfile"}
    )
    assert response.json()["status"] == "Unknown"
    assert len(await installed(csms)) == 4
    station.answers["ClearChargingProfile"] = {"status": "Accepted"}
    # connectorId 0 means "set on connector 0", ANDed with the purpose.
    await csms.api.post(
        "/stations/CP1/charging-profiles/clear",
        json={"connectorId": 0, "chargingProfilePurpose": "TxDefaultProfile"},
    )
    assert _ids(await installed(csms)) == [(0, 1), (1, 3), (1, 4)]
    await csms.command("CP1", "ClearChargingProfile", {"stackLevel": 2})
    assert _ids(await installed(csms)) == [(0, 1), (1, 3)]
    # id given: other criteria ignored.
    await csms.command(
        "CP1", "ClearChargingProfile", {"id": 1, "chargingProfilePurpose": "TxDefaultProfile"}
    )
    assert _ids(await installed(csms)) == [(1, 3)]
    bad = await csms.api.post(
        "/stations/CP1/charging-profiles/clear", json={"chargingProfilePurpose": "Nope"}
    )
    assert bad.status_code == 422


async def test_tx_profiles_end_with_their_transaction(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    await _set(csms, 1, absolute_profile(1, "TxDefaultProfile", stack_level=1))
    await _set(csms, 1, absolute_profile(2, "TxProfile", stack_level=1, transactionId=tx))
    assert _ids(await installed(csms)) == [(1, 1), (1, 2)]
    await station.stop_transaction(tx)
    await csms.hub.services.events.drain()
    assert _ids(await installed(csms)) == [(1, 1)]


async def test_refuse_versus_warn(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    # Refused with the reason: ChargePointMaxProfile on a connector, through the generic endpoint.
    bad = await csms.command(
        "CP1",
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": absolute_profile(1, "ChargePointMaxProfile")},
    )
    assert bad.status_code == 422
    assert "ChargePointMaxProfile can only be set on connectorId 0" in bad.json()["detail"]
    bad = await csms.command(
        "CP1",
        "SetChargingProfile",
        {
            "connectorId": 0,
            "csChargingProfiles": absolute_profile(1, "TxDefaultProfile", limit=6.25),
        },
    )
    assert bad.status_code == 422 and "more than one decimal" in bad.json()["detail"]
    assert station.sent("SetChargingProfile") == []
    # Only a warning: a transactionId that is not the running one (the station decides).
    tx = await station.charging("TAG1")
    response = await csms.api.post(
        "/stations/CP1/charging-profiles",
        json={
            "connectorId": 1,
            "transactionId": tx + 100,
            "chargingProfile": absolute_profile(2, "TxProfile"),
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "Accepted"
    assert any("is not the running transaction" in w for w in body["warnings"])
    assert station.sent("SetChargingProfile")[-1]["csChargingProfiles"]["transactionId"] == tx + 100


async def test_profile_library_crud(csms: Csms) -> None:
    body = absolute_profile(0, "TxDefaultProfile")
    del body["chargingProfileId"]
    created = await csms.api.post("/charging-profiles", json={"name": "night", **body})
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["purpose"] == "TxDefaultProfile" and first["profile"]["chargingProfileId"] == 1
    explicit = await csms.api.post(
        "/charging-profiles", json={"name": "x", "chargingProfileId": 77, **body}
    )
    assert explicit.json()["id"] == 77
    duplicate = await csms.api.post("/charging-profiles", json={"chargingProfileId": 77, **body})
    assert duplicate.status_code == 409
    invalid = await csms.api.post(
        "/charging-profiles",
        json={**body, "chargingProfileKind": "Recurring"},
    )
    assert invalid.status_code == 422
    assert "recurrencyKind is required" in invalid.json()["detail"]
    changed = await csms.api.put(
        "/charging-profiles/77", json={"name": "y", **body, "stackLevel": 4}
    )
    assert changed.status_code == 200 and changed.json()["stackLevel"] == 4
    assert [p["id"] for p in (await csms.api.get("/charging-profiles")).json()] == [1, 77]
    assert (await csms.api.delete("/charging-profiles/77")).status_code == 204
    assert (await csms.api.get("/charging-profiles/77")).status_code == 404
    missing = await csms.api.post(
        "/stations/CP9/charging-profiles", json={"connectorId": 1, "profileId": 77}
    )
    assert missing.status_code == 404


async def test_composite_and_preview(csms: Csms, station: TestChargePoint) -> None:
    await _set(csms, 1, absolute_profile(1, "TxDefaultProfile", limit=16, duration=7200))
    ours = (
        await csms.api.get(
            "/stations/CP1/composite-schedule", params={"connectorId": 1, "duration": 600}
        )
    ).json()
    assert ours["chargingRateUnit"] == "A"
    assert ours["chargingSchedulePeriod"][0]["limit"] == 16.0
    # In W with the configured voltage (230 V default, 3 phases).
    watts = (
        await csms.api.get(
            "/stations/CP1/composite-schedule",
            params={"connectorId": 1, "duration": 600, "chargingRateUnit": "W"},
        )
    ).json()
    assert watts["chargingSchedulePeriod"][0]["limit"] == 16 * 230 * 3

    sent_before = len(station.received)
    preview = await csms.api.post(
        "/stations/CP1/composite-schedule/preview",
        json={
            "connectorId": 0,
            "compositeConnectorId": 1,
            "duration": 600,
            "chargingProfile": absolute_profile(2, "ChargePointMaxProfile", limit=10),
        },
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["current"]["chargingSchedulePeriod"][0]["limit"] == 16.0
    assert body["withCandidate"]["chargingSchedulePeriod"][0]["limit"] == 10.0
    assert len(station.received) == sent_before  # a preview sends nothing
    assert len(await installed(csms)) == 1
    invalid = await csms.api.post(
        "/stations/CP1/composite-schedule/preview",
        json={"connectorId": 1, "chargingProfile": absolute_profile(3, "TxProfile")},
    )
    assert invalid.status_code == 422 and "active transaction" in invalid.json()["detail"]


async def test_voltage_setting(backend: str, tmp_path: Any, tmp_path_factory: Any) -> None:
    from tests.conftest import start_csms

    hub, handle = await start_csms(backend, tmp_path, tmp_path_factory, smart_charging_voltage=120)
    try:
        cp = await handle.connect("CP1")
        await cp.booted()
        await handle.command(
            "CP1",
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": absolute_profile(1, "TxDefaultProfile")},
        )
        ours = (
            await handle.api.get(
                "/stations/CP1/composite-schedule",
                params={"connectorId": 1, "duration": 60, "chargingRateUnit": "W"},
            )
        ).json()
        assert ours["chargingSchedulePeriod"][0]["limit"] == 6 * 120 * 3
    finally:
        await handle.close_stations()
        await handle.api.aclose()
        await hub.stop()
