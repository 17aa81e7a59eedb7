"""Meter values are stored as one ``meter_readings`` row per meterValue element (migration 0531):
a multi-element message is one row per element, a redelivered message adds nothing, and the API
still shows one entry per sampled value, exactly as before."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select

from tests.conftest import Csms
from tests.integrity.helpers import meter_row_count
from tests.protocol.raw import RawStation
from watthub.storage import console_repo, transactions_repo
from watthub.storage.tables import meter_readings

T0 = "2026-03-01T08:00:00.000Z"
T1 = "2026-03-01T08:01:00.000Z"
T2 = "2026-03-01T08:02:00.000Z"
T3 = "2026-03-01T08:02:30.000Z"


def _element(ts: str, wh: int) -> dict[str, Any]:
    return {
        "timestamp": ts,
        "sampledValue": [
            {"value": str(wh)},  # every attribute defaulted
            {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
            {"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        ],
    }


async def _readings(csms: Csms, station_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(meter_readings)
        .where(meter_readings.c.station_id == station_id)
        .order_by(meter_readings.c.id)
    )
    async with csms.hub.services.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(stmt)]


async def _charging(csms: Csms) -> tuple[RawStation, int]:
    """Station CP1 booted, with a transaction started by TAG1: (station, transaction id)."""
    await csms.add_station("CP1")
    await csms.add_tag("TAG1")
    raw = await RawStation.open(csms.url("CP1"))
    await raw.boot()
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": T0}
    answer = await raw.call("start", "StartTransaction", start)
    assert answer[0] == 3, answer
    return raw, int(answer[2]["transactionId"])


async def test_multi_element_meter_values_one_row_per_element_stored_once(csms: Csms) -> None:
    raw, tx_id = await _charging(csms)
    message = {
        "connectorId": 1,
        "transactionId": tx_id,
        "meterValue": [_element(T1, 1500), _element(T2, 2000)],
    }
    # The same message id after its answer, then a new one: the second and third store nothing.
    for message_id in ("mv-1", "mv-1", "mv-2"):
        assert await raw.call(message_id, "MeterValues", message) == [3, message_id, {}]
    readings = await _readings(csms, "CP1")
    assert len(readings) == 2  # one row per element, not per sampled value
    assert [r["source"] for r in readings] == ["MeterValues"] * 2
    assert readings[1]["reading_key"] != readings[0]["reading_key"]
    assert orjson.loads(readings[0]["sampled_values"]) == [
        {
            "value": "1500",
            "measurand": "Energy.Active.Import.Register",
            "context": "Sample.Periodic",
        },
        {
            "value": "7.4",
            "measurand": "Power.Active.Import",
            "unit": "kW",
            "context": "Sample.Periodic",
        },
        {
            "value": "16",
            "measurand": "Current.Import",
            "phase": "L1",
            "unit": "A",
            "context": "Sample.Periodic",
        },
    ]
    assert await meter_row_count(csms, "CP1") == 6

    # The API lists one entry per sampled value, with every attribute as before.
    detail = (await csms.api.get(f"/transactions/{tx_id}")).json()
    shown = detail["meterValues"]
    assert [(m["timestamp"], m["value"], m["measurand"]) for m in shown] == [
        (T1, "1500", "Energy.Active.Import.Register"),
        (T1, "7.4", "Power.Active.Import"),
        (T1, "16", "Current.Import"),
        (T2, "2000", "Energy.Active.Import.Register"),
        (T2, "7.4", "Power.Active.Import"),
        (T2, "16", "Current.Import"),
    ]
    assert set(shown[2]) == {
        "id",
        "stationId",
        "connectorId",
        "transactionId",
        "timestamp",
        "value",
        "measurand",
        "phase",
        "unit",
        "context",
        "location",
        "format",
        "source",
    }
    assert shown[2]["phase"] == "L1" and shown[0]["unit"] is None and shown[0]["location"] is None
    assert [m["id"] for m in shown] == sorted(m["id"] for m in shown)

    # The stop's transactionData: one row per element too, once, with its own source.
    stop = {
        "transactionId": tx_id,
        "meterStop": 2500,
        "timestamp": "2026-03-01T08:03:00.000Z",
        "reason": "Local",
        "transactionData": [_element("2026-03-01T08:03:00.000Z", 2500)],
    }
    for message_id in ("stop-1", "stop-1", "stop-2"):
        assert (await raw.call(message_id, "StopTransaction", stop))[0] == 3
    readings = await _readings(csms, "CP1")
    assert [r["source"] for r in readings] == ["MeterValues"] * 2 + ["StopTransaction"]
    assert readings[2]["transaction_id"] == tx_id
    assert await meter_row_count(csms, "CP1") == 9
    await raw.close()


async def test_last_energy_reading_and_console_energy_read_the_readings(csms: Csms) -> None:
    raw, tx_id = await _charging(csms)
    energy = {"measurand": "Energy.Active.Import.Register"}
    message = {
        "connectorId": 1,
        "transactionId": tx_id,
        "meterValue": [
            {
                "timestamp": T1,
                "sampledValue": [
                    {"value": "1.6", "unit": "kWh", **energy},
                    {"value": "c2lnbmVk", "format": "SignedData", **energy},  # no number
                ],
            },
            {
                "timestamp": T2,
                "sampledValue": [{"value": "900", "phase": "L1", **energy}, {"value": "1800"}],
            },
            # The latest element has a per-phase energy value only: not the total.
            {"timestamp": T3, "sampledValue": [{"value": "950", "phase": "L1", **energy}]},
        ],
    }
    assert (await raw.call("mv", "MeterValues", message))[0] == 3
    async with csms.hub.services.engine.connect() as conn:
        reading = await transactions_repo.last_energy_reading(conn, tx_id, 1000)
        assert reading is not None and reading[1] == 1800
        assert reading[0].isoformat().startswith("2026-03-01T08:02:00")
        # Not below the floor: the earlier readings (1.6 kWh; a signed value) do not qualify.
        assert await transactions_repo.last_energy_reading(conn, tx_id, 1700) == (
            reading[0],
            1800,
        )
        assert await transactions_repo.last_energy_reading(conn, tx_id, 1801) is None
        assert (await transactions_repo.last_energy_reading(conn, tx_id, 1500)) == reading
        # The console: the latest total energy reading minus meterStart.
        since = datetime(2026, 3, 1, tzinfo=UTC)
        assert await console_repo.energy_since(conn, since) == 800
    await raw.close()
