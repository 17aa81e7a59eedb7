"""Station registration through the API."""

from __future__ import annotations

from tests.conftest import Csms


async def test_station_crud(csms: Csms) -> None:
    created = await csms.add_station("CP1", description="Lobby", heartbeatInterval=60)
    assert created["id"] == "CP1"
    assert created["description"] == "Lobby"
    assert created["hasPassword"] is False
    assert created["connected"] is False
    assert "password_hash" not in created

    listed = (await csms.api.get("/stations")).json()
    assert [s["id"] for s in listed] == ["CP1"]
    patched = await csms.api.patch(
        "/stations/CP1", json={"description": "Garage", "bootPolicy": "Pending"}
    )
    assert patched.status_code == 200
    assert patched.json()["description"] == "Garage"
    assert patched.json()["bootPolicy"] == "Pending"
    assert (await csms.api.get("/stations/CP1")).json()["heartbeatInterval"] == 60

    password = await csms.api.put("/stations/CP1/password", json={})
    assert password.status_code == 200 and len(password.json()["password"]) >= 16
    assert (await csms.api.get("/stations/CP1")).json()["hasPassword"] is True

    assert (await csms.api.delete("/stations/CP1")).status_code == 204
    assert (await csms.api.get("/stations/CP1")).status_code == 404


async def test_duplicate_station_is_409(csms: Csms) -> None:
    await csms.add_station("CP1")
    again = await csms.api.post("/stations", json={"id": "CP1"})
    assert again.status_code == 409
    assert "CP1" in again.json()["detail"]


async def test_unknown_station_is_404(csms: Csms) -> None:
    for method, path in [
        ("GET", "/stations/NOPE"),
        ("PATCH", "/stations/NOPE"),
        ("DELETE", "/stations/NOPE"),
        ("GET", "/stations/NOPE/messages"),
        ("GET", "/stations/NOPE/configuration"),
        ("GET", "/stations/NOPE/anomalies"),
        ("POST", "/stations/NOPE/reset"),
        ("POST", "/stations/NOPE/ocpp/Reset"),
    ]:
        body = {"type": "Hard"} if method == "POST" else None
        kwargs = {"json": body} if body is not None else {}
        if method == "PATCH":
            kwargs = {"json": {"description": "x"}}
        response = await csms.api.request(method, path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert "NOPE" in response.json()["detail"], (method, path)


async def test_bad_station_input_is_422_with_readable_detail(csms: Csms) -> None:
    for body, field in [
        ({}, "id"),
        ({"id": ""}, "id"),
        ({"id": "a/b"}, "id"),
        ({"id": "CP1", "password": "short"}, "password"),
        ({"id": "CP1", "bootPolicy": "Maybe"}, "bootPolicy"),
        ({"id": "CP1", "heartbeatInterval": 0}, "heartbeatInterval"),
        ({"id": "CP1", "validationPolicy": "loose"}, "validationPolicy"),
    ]:
        response = await csms.api.post("/stations", json=body)
        assert response.status_code == 422, (body, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) and field in detail, (body, detail)
    not_json = await csms.api.post(
        "/stations", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422 and isinstance(not_json.json()["detail"], str)
    await csms.add_station("CP1")
    bad_patch = await csms.api.patch("/stations/CP1", json={"bootPolicy": "Maybe"})
    assert bad_patch.status_code == 422
    assert (await csms.api.get("/stations")).json()[0]["bootPolicy"] == "Accepted"


async def test_delete_disconnects_and_forgets_the_station(csms: Csms) -> None:
    import asyncio

    cp = await csms.connect("CP1")
    await cp.booted()
    cp.answers["GetConfiguration"] = {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]
    }
    assert (await csms.api.post("/stations/CP1/get-configuration", json={})).status_code == 200
    assert len((await csms.api.get("/stations/CP1/configuration")).json()) == 1

    assert (await csms.api.delete("/stations/CP1")).status_code == 204
    await asyncio.wait_for(cp._connection.wait_closed(), 5)
    # Registered again under the same id: nothing of the old one comes back.
    await csms.add_station("CP1")
    again = (await csms.api.get("/stations/CP1")).json()
    assert again["connectors"] == []
    assert again["registrationStatus"] is None
    assert (await csms.api.get("/stations/CP1/configuration")).json() == []
