"""Closing a transaction by hand (API and CLI), and transaction ids out of range."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import CliRunner
from ocpp.v16 import call

from tests.conftest import Csms
from watthub.cli import main
from watthub.domain import events
from watthub.timeutil import now_ts


async def _cli(csms: Csms, *args: str) -> Any:
    env = {"WATTHUB_API_URL": csms.api_base, "WATTHUB_API_TOKEN": csms.token}
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def test_operator_closes_a_lost_transaction(csms: Csms) -> None:
    await csms.add_tag("TAG1")
    stopped: list[dict[str, Any]] = []

    async def listener(**data: Any) -> None:
        stopped.append(data)

    csms.hub.services.events.subscribe(events.TRANSACTION_STOPPED, listener)
    cp = await csms.connect("CP1")
    await cp.booted()
    tx = (await cp.start_transaction("TAG1", 1, meter_start=100)).transaction_id
    reading = now_ts()
    await cp.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=tx,
            meter_value=[{"timestamp": reading, "sampledValue": [{"value": "640", "unit": "Wh"}]}],
        )
    )

    closed = await csms.api.post(
        f"/transactions/{tx}/close", json={"reason": "Charger swapped, session lost\n"}
    )
    assert closed.status_code == 200, closed.text
    view = closed.json()
    assert view["active"] is False and view["stopReason"] == "Other"
    assert view["meterStop"] == 640 and view["energyWh"] == 540 and view["stopTime"] == reading
    # The reason is one flag: the separator (comma) and control characters cannot break it.
    assert view["flags"] == "operatorClosed,closeReason=Charger swapped; session lost"
    await csms.hub.services.events.drain()
    assert stopped == [
        {
            "station_id": "CP1",
            "transaction_id": tx,
            "connector_id": 1,
            "reason": "Other",
            "closed_by": "operator",
        }
    ]
    again = await csms.api.post(f"/transactions/{tx}/close", json={"reason": "twice"})
    assert again.status_code == 409 and "already stopped" in again.json()["detail"]
    # A tag whose transaction was closed may start again (no ConcurrentTx).
    assert (await cp.start_transaction("TAG1", 1)).id_tag_info["status"] == "Accepted"

    unknown = await csms.api.post("/transactions/424242/close", json={"reason": "x"})
    assert unknown.status_code == 404
    for body in ({}, {"reason": ""}, {"reason": " \t"}, {"reason": "x", "extra": 1}):
        refused = await csms.api.post(f"/transactions/{tx}/close", json=body)
        assert refused.status_code == 422, (body, refused.text)


async def test_cli_transaction_close_and_show(csms: Csms) -> None:
    await csms.add_tag("TAG1")
    cp = await csms.connect("CP1")
    await cp.booted()
    tx = (await cp.start_transaction("TAG1", 1, meter_start=7)).transaction_id
    result = await _cli(csms, "transaction", "close", str(tx), "--reason", "lost on reboot")
    assert result.exit_code == 0, result.output
    closed = json.loads(result.output)
    assert closed["id"] == tx and closed["meterStop"] == 7 and closed["active"] is False
    assert "closeReason=lost on reboot" in closed["flags"]
    shown = await _cli(csms, "transaction", "show", str(tx))
    assert shown.exit_code == 0 and json.loads(shown.output)["stopReason"] == "Other"
    twice = await _cli(csms, "transaction", "close", str(tx), "--reason", "again")
    assert twice.exit_code != 0 and "HTTP 409" in twice.output
    unknown = await _cli(csms, "transaction", "close", "999999", "--reason", "x")
    assert unknown.exit_code != 0 and "HTTP 404" in unknown.output


async def test_transaction_ids_out_of_range_are_422_never_500(csms: Csms) -> None:
    huge = "99999999999999999999"
    for method, path, body in (
        ("GET", f"/transactions/{huge}", None),
        ("GET", f"/transactions/{2**31}", None),
        ("POST", f"/transactions/{huge}/close", {"reason": "x"}),
        ("GET", f"/transactions?offset={huge}", None),
    ):
        response = await csms.api.request(method, path, json=body)
        assert response.status_code == 422, (path, response.status_code, response.text)
    assert (await csms.api.get("/transactions/-1")).status_code == 404
    assert (await csms.api.get(f"/transactions/{2**31 - 1}")).status_code == 404
