"""First end-to-end check of the harness (the per-case conformance tests live beside it)."""

from __future__ import annotations

from tests.conftest import Csms
from tests.support.chargepoint import TestChargePoint


async def test_boot_start_stop_with_meter_values(csms: Csms, station: TestChargePoint) -> None:
    await csms.add_tag("TAG1")
    tx = await station.charging("TAG1")
    stop = await station.stop_transaction(tx, meter_stop=1500, id_tag="TAG1", reason="Local")
    assert stop.id_tag_info["status"] == "Accepted"
    detail = (await csms.api.get(f"/transactions/{tx}")).json()
    assert detail["meterStop"] == 1500
    assert detail["stopReason"] == "Local"
    assert detail["active"] is False
