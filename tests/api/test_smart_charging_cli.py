"""The ``watthub profile`` / ``watthub site`` commands against a running WattHub."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import CliRunner

from tests.conformance.test_smart_charging import absolute_profile, installed
from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.cli import main


async def _cli(csms: Csms, *args: str) -> Any:
    """Run a command in a thread (it makes blocking HTTP calls to our server on this loop)."""
    full = [*args, "--api-url", csms.api_base, "--token", csms.token]
    result = await asyncio.to_thread(CliRunner().invoke, main, full)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if result.output.strip() else None


async def test_profile_and_site_commands(csms: Csms, station: TestChargePoint) -> None:
    body = absolute_profile(0, "TxDefaultProfile", limit=12)
    del body["chargingProfileId"]
    added = await _cli(csms, "profile", "add", json.dumps(body), "--name", "twelve")
    answer = await _cli(
        csms, "profile", "set", "CP1", "--connector", "1", "--profile-id", str(added["id"])
    )
    assert answer["status"] == "Accepted"
    assert (
        station.sent("SetChargingProfile")[-1]["csChargingProfiles"]["chargingProfileId"]
        == (added["id"])
    )
    listed = await _cli(csms, "profile", "installed", "CP1")
    assert [e["chargingProfileId"] for e in listed] == [added["id"]]
    local = await _cli(csms, "profile", "composite", "CP1", "--connector", "1", "--local")
    assert local["chargingSchedulePeriod"][0]["limit"] == 12.0
    await _cli(csms, "profile", "clear", "CP1", "--purpose", "TxDefaultProfile")
    assert station.sent("ClearChargingProfile")[-1] == {
        "chargingProfilePurpose": "TxDefaultProfile"
    }
    assert await installed(csms) == []

    await _cli(csms, "site", "create", "hall", "--limit", "20", "--min", "6")
    await _cli(csms, "site", "assign", "hall", "CP1")
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    await csms.hub.services.events.drain()
    changed = await _cli(csms, "site", "set-limit", "hall", "16")
    assert changed["allocation"] == [
        {**changed["allocation"][0], "transactionId": tx, "limit": 16.0}
    ]
    shown = await _cli(csms, "site", "show", "hall")
    assert shown["stations"] == ["CP1"] and shown["allocated"] == 16.0
