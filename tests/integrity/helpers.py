"""What the integrity tests compare: the transactions and meter values WattHub stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.conftest import Csms
from watthub.storage.tables import meter_values, transactions


async def stored_transactions(csms: Csms, station_id: str | None = None) -> list[dict[str, Any]]:
    stmt = select(transactions).order_by(transactions.c.id)
    if station_id is not None:
        stmt = stmt.where(transactions.c.station_id == station_id)
    async with csms.hub.services.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(stmt)]


async def meter_row_count(csms: Csms, station_id: str) -> int:
    stmt = select(func.count()).where(meter_values.c.station_id == station_id)
    async with csms.hub.services.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


def flags(tx: dict[str, Any]) -> list[str]:
    return [f for f in (tx["flags"] or "").split(",") if f]
