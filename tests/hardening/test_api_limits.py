"""Operator input that used to reach the database or the station unchecked (issue #11 §2, §4):
out-of-range ids answer 404/422 (never 500), SendLocalList with an invalid listVersion and
UnlockConnector on connector 0 answer 422 before any write or call."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "path",
    [
        f"/firmware/{HUGE}",
        f"/firmware-campaigns/{HUGE}",
        f"/charging-profiles/{HUGE}",
        f"/charging-profiles/{2**31}",
        f"/stations/CP1/diagnostics/files/{HUGE}",
        f"/stations/CP1/certificates/{HUGE}",
        f"/stations/CP1/messages?beforeId={HUGE}",
        f"/stations/CP1/composite-schedule?connectorId={HUGE}",
    ],
)
async def test_out_of_range_ids_are_not_a_server_error(csms: Csms, path: str) -> None:
    await csms.add_station("CP1")
    answered = []
    for method in ("GET", "DELETE", "POST", "PUT"):
        response = await csms.api.request(method, path)
        assert response.status_code in (404, 405, 422), (method, path, response.text)
        answered.append(response.status_code)
    assert {404, 422} & set(answered), answered  # the route exists and refused the id


async def test_huge_integer_in_a_body_is_a_422(csms: Csms) -> None:
    response = await csms.api.post("/stations", json={"id": "CPH", "heartbeatInterval": 2**40})
    assert response.status_code == 422, response.text
    assert (await csms.api.get("/stations/CPH")).status_code == 404


@pytest.mark.parametrize("version", [0, -1, -7, 2**31, "3", 1.5])
async def test_send_local_list_invalid_version_is_422_without_error_log(
    csms: Csms, station: TestChargePoint, caplog: pytest.LogCaptureFixture, version: object
) -> None:
    with caplog.at_level(logging.WARNING):
        response = await csms.command(
            "CP1",
            "SendLocalList",
            {"listVersion": version, "updateType": "Full", "localAuthorizationList": []},
        )
    assert response.status_code == 422, response.text
    assert "listVersion" in response.text
    assert station.sent("SendLocalList") == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # A valid one still goes out.
    ok = await csms.command(
        "CP1",
        "SendLocalList",
        {"listVersion": 5, "updateType": "Full", "localAuthorizationList": []},
    )
    assert ok.status_code == 200, ok.text
    assert station.sent("SendLocalList")[0]["listVersion"] == 5


async def test_unlock_connector_zero_is_refused(csms: Csms, station: TestChargePoint) -> None:
    generic = await csms.command("CP1", "UnlockConnector", {"connectorId": 0})
    assert generic.status_code == 422, generic.text
    typed = await csms.api.post("/stations/CP1/unlock-connector", json={"connectorId": 0})
    assert typed.status_code == 422, typed.text
    assert station.sent("UnlockConnector") == []
    ok = await csms.command("CP1", "UnlockConnector", {"connectorId": 1})
    assert ok.status_code == 200, ok.text
    assert station.sent("UnlockConnector") == [{"connectorId": 1}]


async def test_nul_characters_are_refused_by_the_api_on_both_databases(csms: Csms) -> None:
    # PostgreSQL cannot store U+0000 (it was a 500), SQLite stored it: now a 422 on both.
    response = await csms.api.post("/stations", json={"id": "CPN", "description": "a\u0000b"})
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["detail"]
    response = await csms.api.put("/id-tags/T1", json={"note": "x\u0000"})
    assert response.status_code == 422, response.text
    response = await csms.api.get("/stations/CP%00X")
    assert response.status_code == 422, response.text
    assert (await csms.api.get("/stations")).json() == []
    # Ordinary requests are untouched (the body is replayed to the route).
    response = await csms.api.post("/stations", json={"id": "CPN", "description": "ok"})
    assert response.status_code == 201, response.text
    assert response.json()["description"] == "ok"
