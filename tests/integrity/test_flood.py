"""A flooding station disconnected for exceeding the inbound queue (issue #11 §2): whatever was
stored before the disconnect and not answered is redelivered by the charger, and the redelivery
must not create a second transaction."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.conftest import start_csms
from tests.integrity.helpers import WriteLock, stored_transactions
from tests.protocol.raw import RawStation
from tests.support.poll import eventually
from watthub.timeutil import now_ts

CALLS = 24


def _start(n: int) -> dict[str, Any]:
    # One connector each, so no start makes another one stale: all 24 must survive.
    return {"connectorId": n + 1, "idTag": f"TAG{n}", "meterStart": 1000 + n, "timestamp": now_ts()}


async def test_flooding_station_redelivers_without_duplicates(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    hub, csms = await start_csms(backend, tmp_path, tmp_path_factory, max_inbound_queue=4)
    try:
        await csms.add_station("FLOOD")
        raw = await RawStation.open(csms.url("FLOOD"))
        starts = {f"s-{n}": _start(n) for n in range(CALLS)}
        messages = [[2, m, "StartTransaction", p] for m, p in starts.items()]
        async with WriteLock(hub.settings.database_url) as stall:
            # The first start is in hand, its write waiting for the database, when the flood
            # comes: everything else at once, more than the queue allows.
            await raw.send(messages[0])
            await asyncio.sleep(0.3)
            for message in messages[1:]:
                await raw.send(message)
            await asyncio.sleep(0.3)
            await stall.release()
        answered: dict[str, int] = {}
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while True:
                frame = await raw.recv(timeout=5)
                if frame[0] == 3:
                    answered[frame[1]] = frame[2]["transactionId"]
        assert raw.ws.close_code == 1008
        assert len(answered) < CALLS

        async def connected() -> bool:
            return bool(hub.services.gateway.is_connected("FLOOD"))

        await eventually(connected, lambda up: not up)  # the session has finished its work
        flood_stored = {tx["id"] for tx in await stored_transactions(csms, "FLOOD")}
        # Nothing stored and left unanswered: the call in hand is answered before the close.
        assert flood_stored <= set(answered.values()), (flood_stored, answered)

        # The charger comes back and redelivers every unanswered start, one at a time (half of
        # them with the same message id, half with a new one).
        raw = await RawStation.open(csms.url("FLOOD"))
        for n, (message_id, payload) in enumerate(starts.items()):
            if message_id in answered:
                continue
            resend_id = message_id if n % 2 else f"{message_id}-again"
            answer = await raw.call(resend_id, "StartTransaction", payload)
            assert answer[0] == 3, answer
            answered[message_id] = answer[2]["transactionId"]
        await raw.close()

        stored = await stored_transactions(csms, "FLOOD")
        by_connector = {tx["connector_id"]: tx for tx in stored}
        assert len(stored) == CALLS, (
            f"{len(stored)} transactions for {CALLS} starts "
            f"({len(flood_stored)} stored during the flood)"
        )
        for message_id, payload in starts.items():
            tx = by_connector[payload["connectorId"]]
            assert tx["id"] == answered[message_id] and tx["stop_time"] is None
            assert tx["meter_start"] == payload["meterStart"]
        print(json.dumps({"stored_during_flood": len(flood_stored), "backend": backend}))
    finally:
        await csms.close_stations()
        await csms.api.aclose()
        await hub.stop()
