"""Shared steps of the Core conformance tests (what the OCTT's reusable states do)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint


async def assert_nothing_unsolicited(cp: TestChargePoint, wait: float = 0.3) -> None:
    """OCTT cases fail when the CSMS sends a request nobody asked for (TC_001 note)."""
    await asyncio.sleep(wait)
    assert cp.received == [], f"the CSMS sent unsolicited requests: {cp.received}"


async def connectors(csms: Csms, station_id: str = "CP1") -> dict[int, dict[str, Any]]:
    station = (await csms.api.get(f"/stations/{station_id}")).json()
    return {c["connectorId"]: c for c in station["connectors"]}


async def transaction(csms: Csms, tx_id: int) -> dict[str, Any]:
    response = await csms.api.get(f"/transactions/{tx_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def assert_sent_only(cp: TestChargePoint, *actions: str, wait: float = 0.3) -> None:
    """The CSMS sent exactly these requests, in this order, and nothing else (the OCTT fails a
    case on any message it does not expect; reference §5 quirks 1 and 2)."""
    await asyncio.sleep(wait)
    sent = [action for action, _ in cp.received]
    assert sent == list(actions), f"the CSMS sent {sent}, expected {list(actions)}"
