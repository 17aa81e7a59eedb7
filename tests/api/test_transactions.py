"""Transactions: filters and CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

from tests.conftest import Csms
from watthub.timeutil import format_ts


async def _setup(csms: Csms) -> tuple[int, int, int]:
    await csms.add_tag("TAG1")
    await csms.add_tag("TAG2")
    cp1 = await csms.connect("CP1")
    await cp1.booted(connectors=2)
    cp2 = await csms.connect("CP2")
    await cp2.booted()
    old = format_ts(datetime.now(UTC) - timedelta(days=2))
    a = (await cp1.start_transaction("TAG1", 1, meter_start=100, timestamp=old)).transaction_id
    await cp1.stop_transaction(a, meter_stop=350, reason="Local")
    b = (await cp1.start_transaction("tag2", 2)).transaction_id
    c = (await cp2.start_transaction("TAG1", 1)).transaction_id
    return a, b, c


async def test_transaction_filters(csms: Csms) -> None:
    a, b, c = await _setup(csms)

    async def ids(**params: object) -> list[int]:
        response = await csms.api.get("/transactions", params=params)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()]

    assert await ids() == [c, b, a]  # newest first
    assert await ids(stationId="CP1") == [b, a]
    assert await ids(idTag="tag1") == [c, a]  # case-insensitive
    assert await ids(idTag="TAG2") == [b]
    assert await ids(active="true") == [c, b]
    assert await ids(active="false") == [a]
    yesterday = format_ts(datetime.now(UTC) - timedelta(days=1))
    assert await ids(since=yesterday) == [c, b]
    assert await ids(until=yesterday) == [a]
    assert await ids(limit=1) == [c]
    assert await ids(limit=1, offset=1) == [b]
    done = (await csms.api.get(f"/transactions/{a}")).json()
    assert done["energyWh"] == 250 and done["active"] is False
    assert (await csms.api.get("/transactions/999999")).status_code == 404
    assert (await csms.api.get("/transactions", params={"limit": 0})).status_code == 422
    bad = await csms.api.get("/transactions", params={"since": "yesterday"})
    assert bad.status_code == 422


async def test_csv_export(csms: Csms) -> None:
    a, b, _c = await _setup(csms)
    response = await csms.api.get("/transactions.csv", params={"stationId": "CP1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in rows] == [b, a]
    first = next(r for r in rows if int(r["id"]) == a)
    assert first["energyWh"] == "250"
    assert first["stopReason"] == "Local"
    assert first["startTime"].endswith("Z")
    assert rows[0]["stopTime"] == ""


async def test_time_filters_honour_the_offset(csms: Csms) -> None:
    """since/until with a non-UTC offset mean the same instant on every database."""
    a, b, c = await _setup(csms)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for offset in (timedelta(hours=5), timedelta(hours=-7)):
        local = an_hour_ago.astimezone(timezone(offset)).isoformat()
        response = await csms.api.get("/transactions", params={"since": local})
        assert [t["id"] for t in response.json()] == [c, b], local
        response = await csms.api.get("/transactions", params={"until": local})
        assert [t["id"] for t in response.json()] == [a], local
        exported = await csms.api.get("/transactions.csv", params={"since": local})
        assert [int(r["id"]) for r in csv.DictReader(io.StringIO(exported.text))] == [c, b]
