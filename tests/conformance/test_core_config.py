"""Core OCTT cases: configuration (3.7 happy flow, 3.13 non-happy)."""

from __future__ import annotations

from tests.conformance.core_helpers import assert_sent_only
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint

ALL_KEYS = {
    "configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core"},
        {"key": "MeterValueSampleInterval", "readonly": False, "value": "0"},
    ]
}


async def _configuration(csms: Csms) -> dict[str, dict]:
    rows = (await csms.api.get("/stations/CP1/configuration")).json()
    return {r["key"]: r for r in rows}


async def test_tc_019_1_retrieve_all_configuration_keys(
    csms: Csms, station: TestChargePoint
) -> None:
    station.answers["GetConfiguration"] = ALL_KEYS
    response = await csms.api.post("/stations/CP1/get-configuration", json={})
    assert response.status_code == 200, response.text
    assert len(response.json()["configurationKey"]) == 3
    sent = await station.wait_for("GetConfiguration")
    assert sent.get("key", []) == []  # the key list MUST be empty (validated)
    stored = await _configuration(csms)
    assert stored["HeartbeatInterval"]["value"] == "300"
    assert stored["SupportedFeatureProfiles"]["readonly"] is True
    assert set(stored) == {
        "HeartbeatInterval",
        "SupportedFeatureProfiles",
        "MeterValueSampleInterval",
    }
    await assert_sent_only(station, "GetConfiguration")


async def test_tc_019_2_retrieve_specific_configuration_key(
    csms: Csms, station: TestChargePoint
) -> None:
    station.answers["GetConfiguration"] = {
        "configurationKey": [
            {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,Reservation"}
        ],
    }
    response = await csms.command("CP1", "GetConfiguration", {"key": ["SupportedFeatureProfiles"]})
    assert response.status_code == 200, response.text
    assert response.json()["configurationKey"][0]["value"] == "Core,Reservation"
    assert (await station.wait_for("GetConfiguration"))["key"] == ["SupportedFeatureProfiles"]
    stored = await _configuration(csms)
    assert stored["SupportedFeatureProfiles"]["value"] == "Core,Reservation"
    await assert_sent_only(station, "GetConfiguration")


async def test_tc_021_change_set_configuration(csms: Csms, station: TestChargePoint) -> None:
    response = await csms.api.post(
        "/stations/CP1/change-configuration",
        json={"key": "MeterValueSampleInterval", "value": "60"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted"}
    assert await station.wait_for("ChangeConfiguration") == {
        "key": "MeterValueSampleInterval",
        "value": "60",
    }
    assert (await _configuration(csms))["MeterValueSampleInterval"]["value"] == "60"
    await assert_sent_only(station, "ChangeConfiguration")  # no GetConfiguration after it (quirk 2)


async def test_tc_040_1_configuration_keys_not_supported(
    csms: Csms, station: TestChargePoint
) -> None:
    station.answers["ChangeConfiguration"] = {"status": "NotSupported"}
    response = await csms.api.post(
        "/stations/CP1/change-configuration", json={"key": "AcmeCustomKey", "value": "on"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "NotSupported"}
    assert await station.wait_for("ChangeConfiguration") == {"key": "AcmeCustomKey", "value": "on"}
    assert "AcmeCustomKey" not in await _configuration(csms)
    await assert_sent_only(station, "ChangeConfiguration")


async def test_tc_040_2_configuration_keys_invalid_value(
    csms: Csms, station: TestChargePoint
) -> None:
    station.answers["ChangeConfiguration"] = {"status": "Rejected"}
    for value in ("-1", "abc"):
        response = await csms.command(
            "CP1", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": value}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "Rejected"}
    assert [p["value"] for p in station.sent("ChangeConfiguration")] == ["-1", "abc"]
    assert "MeterValueSampleInterval" not in await _configuration(csms)
    await assert_sent_only(station, "ChangeConfiguration", "ChangeConfiguration")
