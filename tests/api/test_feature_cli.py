"""The local-list, reservation and trigger CLI commands against a running WattHub."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import CliRunner

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint
from watthub.cli import main


async def _cli(csms: Csms, *args: str) -> Any:
    runner = CliRunner()
    env = {"WATTHUB_API_URL": csms.api_base, "WATTHUB_API_TOKEN": csms.token}
    # The CLI blocks on HTTP: run it off the event loop that serves the API.
    result = await asyncio.to_thread(runner.invoke, main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def test_cli_local_list_reservation_trigger(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1", parentIdTag="G")
    station.answers["GetLocalListVersion"] = {"listVersion": 0}
    assert json.loads(await _cli(csms, "local-list", "version", "CP1")) == {"listVersion": 0}
    await _cli(csms, "local-list", "scope", "CP1", "--group", "G")
    assert "CP1" in await _cli(csms, "local-list", "out-of-date")
    synced = json.loads(await _cli(csms, "local-list", "sync", "CP1"))
    assert synced["upToDate"] is True
    shown = json.loads(await _cli(csms, "local-list", "show", "CP1"))
    assert set(shown["entries"]) == {"TAG1"}
    assert "CP1" not in await _cli(csms, "local-list", "out-of-date")

    reserved = json.loads(
        await _cli(
            csms,
            "reservation",
            "reserve",
            "CP1",
            "--connector",
            "1",
            "--tag",
            "TAG1",
            "--expires-in",
            "600",
        )
    )
    assert reserved["status"] == "Accepted"
    rid = reserved["reservationId"]
    assert station.sent("ReserveNow")[0]["parentIdTag"] == "G"
    station.answers["CancelReservation"] = {"status": "Rejected"}
    assert json.loads(await _cli(csms, "reservation", "cancel", "CP1", str(rid))) == {
        "status": "Rejected"
    }
    listing = await _cli(csms, "reservation", "list", "--station", "CP1")
    assert f"{rid:>6} CP1" in listing and "active" in listing

    out = json.loads(await _cli(csms, "trigger", "send", "CP1", "Heartbeat"))
    assert out == {"status": "Accepted"}
    assert "Heartbeat" in await _cli(csms, "trigger", "history", "CP1")
