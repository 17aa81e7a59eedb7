"""Local Authorization List Management (OCTT §3.14) and the list lifecycle WattHub keeps."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from tests.support.poll import eventually


async def _list(csms: Csms, station_id: str = "CP1") -> dict[str, Any]:
    response = await csms.api.get(f"/stations/{station_id}/local-list")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _sync(csms: Csms, station_id: str = "CP1", **body: Any) -> dict[str, Any]:
    response = await csms.api.post(f"/stations/{station_id}/local-list/sync", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_tc_042_1_get_local_list_version_not_supported(
    csms: Csms, station: TestChargePoint
) -> None:
    station.answers["GetLocalListVersion"] = {"listVersion": -1}
    response = await csms.api.post("/stations/CP1/get-local-list-version", json={})
    assert response.status_code == 200, response.text
    assert response.json() == {"listVersion": -1}
    assert station.sent("GetLocalListVersion") == [{}]
    shown = await _list(csms)
    assert shown["reportedVersion"] == -1
    assert shown["supported"] is False
    assert shown["outOfDate"] is False  # a station without a list is never "out of date"


async def test_tc_042_2_get_local_list_version_empty(csms: Csms, station: TestChargePoint) -> None:
    station.answers["GetLocalListVersion"] = {"listVersion": 0}
    # The generic endpoint runs the same hooks as the typed one.
    response = await csms.command("CP1", "GetLocalListVersion")
    assert response.status_code == 200, response.text
    assert response.json() == {"listVersion": 0}
    shown = await _list(csms)
    assert shown["reportedVersion"] == 0
    assert shown["supported"] is True
    assert shown["version"] == 0
    assert shown["entries"] == {}


async def test_tc_043_1_send_local_list_not_supported(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    station.answers["SendLocalList"] = {"status": "NotSupported"}
    result = await _sync(csms, updateType="Full")
    assert result["parts"] == [{"updateType": "Full", "entries": 1, "status": "NotSupported"}]
    sent = station.sent("SendLocalList")
    assert len(sent) == 1
    assert sent[0]["updateType"] == "Full"
    assert sent[0]["listVersion"] >= 1
    assert sent[0]["localAuthorizationList"] == [
        {"idTag": "TAG1", "idTagInfo": {"status": "Accepted"}}
    ]
    shown = await _list(csms)
    assert shown["supported"] is False
    assert shown["lastStatus"] == "NotSupported"
    assert shown["version"] is None


async def test_tc_043_3_send_local_list_failed(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    station.answers["SendLocalList"] = {"status": "Failed"}
    result = await _sync(csms, updateType="Full")
    assert result["upToDate"] is False
    assert result["parts"][0]["status"] == "Failed"
    assert station.sent("SendLocalList")[0]["updateType"] == "Full"
    await asyncio.sleep(0.3)
    assert len(station.sent("SendLocalList")) == 1  # a failed Full is not retried in a loop
    shown = await _list(csms)
    assert shown["lastStatus"] == "Failed"
    assert shown["version"] is None
    assert shown["outOfDate"] is True


async def test_tc_043_4_send_local_list_full_accepted(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    await csms.add_tag("TAG2", parentIdTag="GROUP", expiryDate="2031-01-01T00:00:00Z")
    await csms.add_tag("TAG3", status="Blocked")
    result = await _sync(csms)  # nothing known yet: auto means Full
    assert result["updateType"] == "Full"
    sent = station.sent("SendLocalList")
    assert len(sent) == 1
    assert sent[0]["updateType"] == "Full"
    entries = sent[0]["localAuthorizationList"]
    assert {e["idTag"] for e in entries} == {"TAG1", "TAG2", "TAG3"}
    assert all("idTagInfo" in e for e in entries)
    by_tag = {e["idTag"]: e["idTagInfo"] for e in entries}
    assert by_tag["TAG2"] == {
        "status": "Accepted",
        "expiryDate": "2031-01-01T00:00:00.000Z",
        "parentIdTag": "GROUP",
    }
    assert by_tag["TAG3"] == {"status": "Blocked"}
    shown = await _list(csms)
    assert shown["version"] == sent[0]["listVersion"]
    assert shown["entries"] == by_tag
    assert shown["outOfDate"] is False
    # Nothing changed: a second sync sends nothing.
    again = await _sync(csms)
    assert again == {"updateType": "Differential", "upToDate": True, "parts": []}
    assert len(station.sent("SendLocalList")) == 1


async def test_tc_043_5_send_local_list_differential(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    await _sync(csms, updateType="Full")
    initial = station.sent("SendLocalList")[0]["listVersion"]
    # (optional step 1) the station reports the version WattHub gave it
    station.answers["GetLocalListVersion"] = {"listVersion": initial}
    version = await csms.api.post("/stations/CP1/get-local-list-version", json={})
    assert version.json() == {"listVersion": initial}
    # Manual: a Differential for one idTag not in the list yet.
    await csms.add_tag("NEWTAG")
    result = await _sync(csms, updateType="Differential", idTags=["NEWTAG"])
    assert result["parts"] == [{"updateType": "Differential", "entries": 1, "status": "Accepted"}]
    sent = station.sent("SendLocalList")[-1]
    assert sent["updateType"] == "Differential"
    assert sent["localAuthorizationList"] == [
        {"idTag": "NEWTAG", "idTagInfo": {"status": "Accepted"}}
    ]
    assert sent["listVersion"] > initial
    shown = await _list(csms)
    assert shown["version"] == sent["listVersion"]
    assert set(shown["entries"]) == {"TAG1", "NEWTAG"}


async def test_differential_carries_only_changes_and_deletes(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("KEEP")
    await csms.add_tag("GONE")
    await csms.add_tag("CHANGE")
    await _sync(csms)
    await csms.add_tag("CHANGE", status="Blocked")
    assert (await csms.api.delete("/id-tags/GONE")).status_code == 204
    await csms.add_tag("ADDED")
    assert (await _list(csms))["pendingChanges"] == 3
    await _sync(csms)
    sent = station.sent("SendLocalList")
    assert sent[-1]["updateType"] == "Differential"
    assert sorted(sent[-1]["localAuthorizationList"], key=lambda e: e["idTag"]) == [
        {"idTag": "ADDED", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "CHANGE", "idTagInfo": {"status": "Blocked"}},
        {"idTag": "GONE"},
    ]
    assert sent[-1]["listVersion"] > sent[0]["listVersion"]
    shown = await _list(csms)
    assert set(shown["entries"]) == {"KEEP", "CHANGE", "ADDED"}


async def test_version_mismatch_after_differential_resends_full(
    csms: Csms, station: TestChargePoint
) -> None:
    await csms.add_tag("TAG1")
    await _sync(csms)
    await csms.add_tag("TAG2")
    station.answers["SendLocalList"] = lambda p: {
        "status": "VersionMismatch" if p["updateType"] == "Differential" else "Accepted"
    }
    result = await _sync(csms)
    assert result["parts"][0] == {
        "updateType": "Differential",
        "entries": 1,
        "status": "VersionMismatch",
    }
    full = await station.wait_for("SendLocalList", count=3)
    assert full["updateType"] == "Full"
    assert {e["idTag"] for e in full["localAuthorizationList"]} == {"TAG1", "TAG2"}
    versions = [p["listVersion"] for p in station.sent("SendLocalList")]
    assert versions == sorted(versions) and len(set(versions)) == 3
    shown = await eventually(lambda: _list(csms), lambda s: s["lastUpdateType"] == "Full")
    assert shown["lastStatus"] == "Accepted"
    assert shown["version"] == full["listVersion"]
    assert shown["outOfDate"] is False


async def test_list_split_into_parts_by_send_local_list_max_length(
    csms: Csms, station: TestChargePoint
) -> None:
    for n in range(5):
        await csms.add_tag(f"TAG{n}")
    station.answers["GetConfiguration"] = {
        "configurationKey": [{"key": "SendLocalListMaxLength", "readonly": True, "value": "2"}]
    }
    assert (await csms.api.post("/stations/CP1/get-configuration", json={})).status_code == 200
    result = await _sync(csms, updateType="Full")
    assert [p["entries"] for p in result["parts"]] == [2, 2, 1]
    sent = station.sent("SendLocalList")
    assert [p["updateType"] for p in sent] == ["Full", "Differential", "Differential"]
    assert all(len(p["localAuthorizationList"]) <= 2 for p in sent)
    versions = [p["listVersion"] for p in sent]
    assert versions[0] < versions[1] < versions[2]
    shown = await _list(csms)
    assert len(shown["entries"]) == 5
    assert shown["version"] == versions[2]


async def test_scope_by_group_and_out_of_date_listing(csms: Csms, station: TestChargePoint) -> None:
    cp2 = await csms.connect("CP2")
    await cp2.booted()
    await csms.add_tag("G1", note="group tag")
    await csms.add_tag("MEMBER", parentIdTag="G1")
    await csms.add_tag("OTHER")
    scope = await csms.api.put(
        "/stations/CP2/local-list/scope", json={"mode": "groups", "groups": ["G1"]}
    )
    assert scope.status_code == 200, scope.text
    assert scope.json()["scope"] == {"groups": ["G1"]}
    bad = await csms.api.put("/stations/CP2/local-list/scope", json={"mode": "groups"})
    assert bad.status_code == 422
    stale = (await csms.api.get("/local-lists/out-of-date")).json()
    assert {s["stationId"] for s in stale} == {"CP1", "CP2"}
    await _sync(csms, "CP1")
    await _sync(csms, "CP2")
    assert {e["idTag"] for e in cp2.sent("SendLocalList")[0]["localAuthorizationList"]} == {
        "G1",
        "MEMBER",
    }
    assert (await csms.api.get("/local-lists/out-of-date")).json() == []
    await csms.add_tag("LATE")  # not in G1: only CP1 is behind
    stale = (await csms.api.get("/local-lists/out-of-date")).json()
    assert [(s["stationId"], s["pendingChanges"]) for s in stale] == [("CP1", 1)]


async def test_list_version_zero_or_minus_one_refused(csms: Csms, station: TestChargePoint) -> None:
    for version in (0, -1):
        response = await csms.command(
            "CP1", "SendLocalList", {"listVersion": version, "updateType": "Full"}
        )
        assert response.status_code == 422
        assert "listVersion" in response.json()["detail"]
    assert station.sent("SendLocalList") == []
    # An explicit, valid version through the generic endpoint is kept.
    response = await csms.command(
        "CP1",
        "SendLocalList",
        {"listVersion": 40, "updateType": "Full", "localAuthorizationList": []},
    )
    assert response.status_code == 200
    assert station.sent("SendLocalList")[0]["listVersion"] == 40
    assert (await _list(csms))["version"] == 40
