"""Site power limits (beyond OCPP): stations grouped in a site share a maximum current or power.

Policy (documented in docs/smart-charging.md):

* The running transactions of the site (accepted, not stopped), oldest first (by transactionId),
  share the limit equally, floored to 0.1 (the OCPP resolution) so the sum never exceeds it.
* If the equal share is below the site's per-connector minimum, only as many of the oldest
  transactions as can get at least the minimum are served (equal share among them); the newest
  ones get a 0 limit (they wait; they move up as soon as an older one stops).
* Each transaction is told its share with a TxProfile (SetChargingProfile with its transactionId,
  Relative, one period, the site's dedicated stackLevel, chargingProfileId 1_000_000_000 + tx).
* Safety: decreases are sent before increases, and an increase is capped so that the sum of the
  limits the stations have accepted never exceeds the site limit — a decrease that fails (refused,
  station offline) keeps its old value in that sum, so the increases it would pay for wait.
  A transaction that just started has no WattHub limit until its TxProfile arrives (what it draws
  then is up to its TxDefaultProfile; give stations of a site a low TxDefaultProfile to be safe).

Rebalancing happens when a transaction of the site starts or stops, when the limit changes, and
when a station joins or leaves the site. One lock per site keeps rebalances in order.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain import events
from watthub.domain.commands import CommandError, send_command
from watthub.domain.context import Services
from watthub.domain.registry import on_startup
from watthub.gateway import StationCallError, StationNotConnected, StationTimeout
from watthub.storage import smart_charging_repo as repo
from watthub.storage import transactions_repo

log = logging.getLogger("watthub.sites")

SITE_PROFILE_ID_BASE = 1_000_000_000
DEFAULT_STACK_LEVEL = 9

# Per event loop and site (an asyncio.Lock belongs to one loop; tests run several hubs).
_locks: dict[tuple[int, str], asyncio.Lock] = {}


def _floor_tenth(value: float) -> float:
    return max(0.0, math.floor(round(value * 10, 6)) / 10)


def plan(limit: float, minimum: float, transactions: list[int]) -> dict[int, float]:
    """Target limit per transaction id (see the module docstring for the policy)."""
    txs = sorted(transactions)
    if not txs:
        return {}
    share = _floor_tenth(limit / len(txs))
    if share >= minimum:
        return {tx: share for tx in txs}
    served = min(len(txs), int(limit // minimum))
    # The floored share must still reach the minimum (a minimum finer than 0.1 may not).
    while served and _floor_tenth(limit / served) < minimum:
        served -= 1
    served_share = _floor_tenth(limit / served) if served else 0.0
    return {tx: (served_share if index < served else 0.0) for index, tx in enumerate(txs)}


def site_profile(tx_id: int, stack_level: int, unit: str, limit: float) -> dict[str, Any]:
    return {
        "chargingProfileId": SITE_PROFILE_ID_BASE + tx_id,
        "transactionId": tx_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }


async def _running(conn: AsyncConnection, station_ids: list[str]) -> dict[int, dict[str, Any]]:
    running: dict[int, dict[str, Any]] = {}
    for station_id in station_ids:
        for tx in await transactions_repo.open_transactions(conn, station_id):
            if tx["id_tag_status"] == "Accepted":
                running[int(tx["id"])] = tx
    return running


async def rebalance(services: Services, site_id: str) -> dict[str, Any]:
    """Recompute the site's allocation and tell the stations what changed; return the result."""
    key = (id(asyncio.get_running_loop()), site_id)
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        async with services.engine.connect() as conn:
            site = await repo.get_site(conn, site_id)
            if site is None:
                return {"site": site_id, "sent": []}
            running = await _running(conn, await repo.site_station_ids(conn, site_id))
            allocated = {int(a["transaction_id"]): a for a in await repo.allocations(conn, site_id)}

        gone = [tx for tx in allocated if tx not in running]
        if gone:

            async def drop(conn: AsyncConnection) -> None:
                for tx in gone:
                    await repo.drop_allocation(conn, tx)

            await services.writer.run(drop)
        current = {tx: float(a["limit"]) for tx, a in allocated.items() if tx in running}
        target = plan(float(site["limit"]), float(site["min_per_connector"]), list(running))
        # Biggest decreases first (the sum gets under a lowered limit soonest), then increases
        # oldest transaction first, each capped by what the accepted limits leave free.
        decreases = sorted(
            (tx for tx, v in target.items() if tx in current and v < current[tx]),
            key=lambda tx: (target[tx] - current[tx], tx),
        )
        increases = sorted(tx for tx, v in target.items() if tx not in current or v > current[tx])
        sent: list[dict[str, Any]] = []
        for tx in decreases + increases:
            value = target[tx]
            if tx in increases:
                others = sum(v for t, v in current.items() if t != tx)
                value = min(value, _floor_tenth(float(site["limit"]) - others))
                if tx in current and value <= current[tx]:
                    continue  # the budget does not allow an increase yet
            ok = await _send(services, site, running[tx], value)
            sent.append({"transactionId": tx, "limit": value, "accepted": ok})
            if ok:
                current[tx] = value
        return {"site": site_id, "sent": sent}


async def _send(services: Services, site: dict[str, Any], tx: dict[str, Any], value: float) -> bool:
    tx_id = int(tx["id"])
    payload = {
        "connectorId": tx["connector_id"],
        "csChargingProfiles": site_profile(tx_id, site["stack_level"], site["unit"], value),
    }
    try:
        answer = await send_command(services, tx["station_id"], "SetChargingProfile", payload)
    except (CommandError, StationNotConnected, StationTimeout, StationCallError) as exc:
        log.warning("site %s: could not limit transaction %s: %s", site["id"], tx_id, exc)
        return False
    if answer.get("status") != "Accepted":
        log.warning("site %s: transaction %s limit %s %s", site["id"], tx_id, value, answer)
        return False

    async def store(conn: AsyncConnection) -> None:
        await repo.set_allocation(
            conn, site["id"], tx_id, tx["station_id"], tx["connector_id"], value
        )

    await services.writer.run(store)
    return True


async def rebalance_station_site(services: Services, station_id: str) -> None:
    async with services.engine.connect() as conn:
        site_id = await repo.site_of_station(conn, station_id)
    if site_id is not None:
        await rebalance(services, site_id)


@on_startup
async def setup(services: Services) -> None:
    async def on_started(station_id: str, status: str, **_: Any) -> None:
        if status == "Accepted":
            await rebalance_station_site(services, station_id)

    async def on_stopped(station_id: str, **_: Any) -> None:
        await rebalance_station_site(services, station_id)

    services.events.subscribe(events.TRANSACTION_STARTED, on_started)
    services.events.subscribe(events.TRANSACTION_STOPPED, on_stopped)
