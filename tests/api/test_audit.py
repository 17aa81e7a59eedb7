"""The audit trail: every command an operator sends, with who, what, where, when and the
answer; secrets redacted; the command_sent event."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

from tests.api.test_accounts import add_user, login
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.domain.audit import redact
from watthub.domain.events import COMMAND_SENT


async def test_commands_are_audited(csms: Csms, station: TestChargePoint) -> None:
    events: list[dict[str, Any]] = []

    async def listener(event: str, data: dict[str, Any]) -> None:
        if event == COMMAND_SENT:
            events.append(data)

    csms.hub.services.events.subscribe_all(listener)
    await add_user(csms, "olivia", "operator")
    client, csrf = await login(csms, "olivia")
    async with aclosing(client):
        sent = await client.post(
            "/stations/CP1/ocpp/ChangeConfiguration",
            json={"key": "HeartbeatInterval", "value": "60"},
            headers={"X-CSRF-Token": csrf},
        )
        assert sent.status_code == 200, sent.text
    # A bearer token (the test harness's "tests" token) is an actor too.
    reset = await csms.command("CP1", "Reset", {"type": "Hard"})
    assert reset.status_code == 200
    # Refused before sending: recorded with the reason.
    invalid = await csms.command("CP1", "Reset", {"type": "Sideways"})
    assert invalid.status_code == 422
    # Not connected: recorded as failed.
    await csms.add_station("CP2")
    offline = await csms.command("CP2", "ClearCache")
    assert offline.status_code == 409

    trail = (await csms.api.get("/audit")).json()
    assert [
        (e["actor"], e["actorKind"], e["stationId"], e["action"], e["result"]) for e in trail
    ] == [
        ("tests", "token", "CP2", "ClearCache", "failed"),
        ("tests", "token", "CP1", "Reset", "refused"),
        ("tests", "token", "CP1", "Reset", "ok"),
        ("olivia", "user", "CP1", "ChangeConfiguration", "ok"),
    ]
    change = trail[-1]
    assert change["payload"] == {"key": "HeartbeatInterval", "value": "60"}
    assert change["answer"] == {"status": "Accepted"}
    assert change["at"].endswith("Z")
    assert "not connected" in trail[0]["answer"]
    assert "Invalid Reset payload" in trail[1]["answer"]

    per_station = (await csms.api.get("/stations/CP1/audit")).json()
    assert [e["action"] for e in per_station] == ["Reset", "Reset", "ChangeConfiguration"]
    by_user = (await csms.api.get("/audit", params={"user": "olivia"})).json()
    assert [e["action"] for e in by_user] == ["ChangeConfiguration"]
    page = (await csms.api.get("/audit", params={"limit": 2})).json()
    older = (await csms.api.get("/audit", params={"before": page[-1]["id"]})).json()
    assert [e["id"] for e in page + older] == [e["id"] for e in trail]
    bad = await csms.api.get("/audit", params={"before": "yesterday"})
    assert bad.status_code == 422

    for _ in range(50):
        if len(events) == 4:
            break
        await asyncio.sleep(0.05)
    assert [(e["actor"], e["action"], e["result"]) for e in events] == [
        ("olivia", "ChangeConfiguration", "ok"),
        ("tests", "Reset", "ok"),
        ("tests", "Reset", "refused"),
        ("tests", "ClearCache", "failed"),
    ]
    assert events[0]["station_id"] == "CP1"


async def test_audit_redacts_secrets(csms: Csms, station: TestChargePoint) -> None:
    for key in ("AuthorizationKey", " authorizationkey ", "AUTHORIZATIONKEY"):
        response = await csms.command(
            "CP1", "ChangeConfiguration", {"key": key, "value": "0123456789ABCDEF0123"}
        )
        assert response.status_code in (200, 409, 422), response.text
    trail = (await csms.api.get("/stations/CP1/audit")).json()
    assert len(trail) == 3
    for entry in trail:
        assert "0123456789ABCDEF0123" not in str(entry)
    assert redact({"configurationKey": [{"key": "authorizationKey", "value": "s"}]}) == {
        "configurationKey": [{"key": "authorizationKey", "value": "***redacted***"}]
    }
    assert redact({"Password": "p", "nested": {"clientSecret": "c", "ok": 1}}) == {
        "Password": "***redacted***",
        "nested": {"clientSecret": "***redacted***", "ok": 1},
    }


async def test_viewer_reads_the_audit_trail_but_cannot_send(
    csms: Csms, station: TestChargePoint
) -> None:
    await add_user(csms, "vic", "viewer")
    client, csrf = await login(csms, "vic")
    async with aclosing(client):
        refused = await client.post(
            "/stations/CP1/ocpp/ClearCache", json={}, headers={"X-CSRF-Token": csrf}
        )
        assert refused.status_code == 403
        assert (await client.get("/audit")).json() == []  # refused by role: never attempted
    assert station.sent("ClearCache") == []
