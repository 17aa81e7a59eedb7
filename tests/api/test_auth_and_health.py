"""API access: bearer tokens and the unauthenticated health check."""

from __future__ import annotations

import httpx

from tests.conftest import Csms


async def test_health_needs_no_token(csms: Csms) -> None:
    async with httpx.AsyncClient(base_url=csms.api_base) as anonymous:
        response = await anonymous.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["connectedStations"] == 0


async def test_missing_or_bad_token_is_401(csms: Csms) -> None:
    async with httpx.AsyncClient(base_url=csms.api_base) as anonymous:
        missing = await anonymous.get("/stations")
        bad = await anonymous.get("/stations", headers={"Authorization": "Bearer nope"})
        basic = await anonymous.get("/stations", headers={"Authorization": "Basic eDp5"})
        write = await anonymous.post("/stations", json={"id": "CP1"})
    for response in (missing, bad, basic, write):
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert isinstance(response.json()["detail"], str)
    assert "token" in missing.json()["detail"]
    # Nothing was created by the refused request.
    assert (await csms.api.get("/stations")).json() == []


async def test_valid_token_works(csms: Csms) -> None:
    response = await csms.api.get("/stations")
    assert response.status_code == 200
    assert response.json() == []
