"""Id tags: upsert, case-insensitive keys, validation."""

from __future__ import annotations

from tests.conftest import Csms


async def test_upsert_is_case_insensitive(csms: Csms) -> None:
    created = await csms.add_tag("AbC123", note="first")
    assert created["idTag"] == "AbC123"
    assert created["status"] == "Accepted"
    updated = await csms.add_tag("abc123", status="Blocked", note="second")
    assert updated["status"] == "Blocked"
    tags = (await csms.api.get("/id-tags")).json()
    assert len(tags) == 1
    assert tags[0]["status"] == "Blocked" and tags[0]["note"] == "second"
    assert "id_tag_norm" not in tags[0]
    assert (await csms.api.get("/id-tags/ABC123")).json()["status"] == "Blocked"
    assert (await csms.api.delete("/id-tags/aBc123")).status_code == 204
    assert (await csms.api.get("/id-tags/AbC123")).status_code == 404


async def test_expiry_and_parent(csms: Csms) -> None:
    tag = await csms.add_tag("TAG1", expiryDate="2030-01-01T12:00:00+02:00", parentIdTag="GROUP1")
    assert tag["expiryDate"] == "2030-01-01T10:00:00.000Z"
    assert tag["parentIdTag"] == "GROUP1"


async def test_bad_tag_input_is_422(csms: Csms) -> None:
    too_long = await csms.api.put("/id-tags/" + "x" * 21, json={})
    assert too_long.status_code == 422 and "20" in too_long.json()["detail"]
    naive = await csms.api.put("/id-tags/TAG1", json={"expiryDate": "2030-01-01T00:00:00"})
    assert naive.status_code == 422 and "zone" in naive.json()["detail"]
    bad_status = await csms.api.put("/id-tags/TAG1", json={"status": "Maybe"})
    assert bad_status.status_code == 422
    assert (await csms.api.get("/id-tags")).json() == []
    assert (await csms.api.delete("/id-tags/NOPE")).status_code == 404
