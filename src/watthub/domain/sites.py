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

Reconnect (``site_resend_on_reconnect``, default on): when a station of a site connects again or
boots Accepted, its running transactions get their current allocation again (a station may have
lost its TxProfiles, or missed a change while offline), together with a rebalance of the site.
Connect and boot come close together, so one resend runs ``RESEND_DELAY`` after the first of them;
it is skipped if the station has gone or its boot is Pending/Rejected by then. This is the
documented exception to "no unsolicited requests after connect/boot": the operator configured
the site.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain import events
from watthub.domain.commands import CommandError, send_command
from watthub.domain.context import Services
from watthub.domain.invalidation import SITE_MEMBERS, STATION_CONFIGURATION
from watthub.domain.registry import on_startup
from watthub.gateway import StationCallError, StationNotConnected, StationTimeout
from watthub.ocppj.config_keys import CHARGE_PROFILE_MAX_STACK_LEVEL, same_key
from watthub.storage import smart_charging_repo as repo
from watthub.storage import stations_repo, transactions_repo

log = logging.getLogger("watthub.sites")

SITE_PROFILE_ID_BASE = 1_000_000_000
DEFAULT_STACK_LEVEL = 9
# Seconds between a reconnect/boot and the resend (both events of one reconnect coalesce).
RESEND_DELAY = 1.0
_RESEND_KEY = "site_resend_pending"


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


async def rebalance(
    services: Services, site_id: str, *, refresh_station: str | None = None
) -> dict[str, Any]:
    """Recompute the site's allocation and tell the stations what changed; return the result.

    ``refresh_station``: also re-send the unchanged limits of that station's transactions, and
    try again the limits it refused before."""
    # One decision per site at a time, cluster-wide: never two nodes sending conflicting limits.
    async with services.leases.lock(f"site:{site_id}"):
        sent: list[dict[str, Any]] = []
        # A refusal shrinks what the others may draw: plan again (a few rounds at most, each
        # refusal is final for the transaction until its station reconnects).
        dropped: list[int] = []
        for _round in range(_MAX_ROUNDS):
            if not await _rebalance_once(services, site_id, refresh_station, sent, dropped):
                break
            refresh_station = None
        if sent or dropped:
            # The console shows the allocation per transaction live (api/live_feed.py).
            services.events.emit(events.SITE_ALLOCATION, site_id=site_id, sent=sent)
        return {"site": site_id, "sent": sent}


_MAX_ROUNDS = 4


def assumed_draw(site: dict[str, Any]) -> float:
    """What a transaction whose station refused its limit is counted at."""
    maximum = site.get("max_per_connector")
    return float(site["limit"] if maximum is None else min(maximum, site["limit"]))


async def _rebalance_once(
    services: Services,
    site_id: str,
    refresh_station: str | None,
    sent: list[dict[str, Any]],
    dropped: list[int],
) -> bool:
    """One planning round; ``True`` when a station refused a limit (plan again)."""
    async with services.engine.connect() as conn:
        site = await repo.get_site(conn, site_id)
        if site is None:
            return False
        running = await _running(conn, await repo.site_station_ids(conn, site_id))
        allocated = {int(a["transaction_id"]): a for a in await repo.allocations(conn, site_id)}

    gone = [tx for tx in allocated if tx not in running]
    if gone:

        async def drop(conn: AsyncConnection) -> None:
            for tx in gone:
                await repo.drop_allocation(conn, tx)

        await services.writer.run(drop)
        dropped.extend(gone)
    limit = float(site["limit"])
    # Refused transactions count at what their station may draw and get no new request —
    # except on their station's reconnect (it may have been reconfigured meanwhile).
    refused = {
        tx
        for tx, a in allocated.items()
        if tx in running and a["refused"] and running[tx]["station_id"] != refresh_station
    }
    current = {tx: float(a["limit"]) for tx, a in allocated.items() if tx in running}
    budget = max(0.0, limit - sum(current[tx] for tx in refused))
    target = plan(
        budget, float(site["min_per_connector"]), [t for t in running if t not in refused]
    )
    # Biggest decreases first (the sum gets under a lowered limit soonest), then increases
    # oldest transaction first, each capped by what the accepted limits leave free.
    decreases = sorted(
        (tx for tx, v in target.items() if tx in current and v < current[tx]),
        key=lambda tx: (target[tx] - current[tx], tx),
    )
    increases = sorted(tx for tx, v in target.items() if tx not in current or v > current[tx])
    done: set[int] = set()
    newly_refused = False
    for tx in decreases + increases:
        value = target[tx]
        if tx in increases:
            others = sum(v for t, v in current.items() if t != tx)
            value = min(value, _floor_tenth(limit - others))
            if tx in current and value <= current[tx]:
                continue  # the budget does not allow an increase yet
        outcome = await _send(services, site, running[tx], value)
        done.add(tx)
        sent.append(_entry(tx, value, outcome))
        if outcome == _ACCEPTED:
            current[tx] = value
        elif outcome != _FAILED:
            current[tx] = await _mark_refused(services, site, running[tx])
            newly_refused = True
    if refresh_station is not None:
        for tx in sorted(current):
            # The limit the station accepted before: re-sending it never raises the sum.
            if (
                tx not in done
                and tx not in refused
                and running[tx]["station_id"] == refresh_station
            ):
                if allocated.get(tx, {}).get("refused"):
                    continue
                outcome = await _send(services, site, running[tx], current[tx])
                sent.append(_entry(tx, current[tx], outcome))
    return newly_refused


_ACCEPTED = "accepted"
_FAILED = "failed"  # not delivered (offline, timeout): the old value stays in force


def _entry(tx: int, value: float, outcome: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"transactionId": tx, "limit": value, "accepted": outcome == _ACCEPTED}
    if outcome not in (_ACCEPTED, _FAILED):
        entry["refused"] = outcome  # the station's answer, for the operator
    return entry


async def _mark_refused(services: Services, site: dict[str, Any], tx: dict[str, Any]) -> float:
    draw = assumed_draw(site)

    async def store(conn: AsyncConnection) -> None:
        await repo.set_allocation(
            conn, site["id"], int(tx["id"]), tx["station_id"], tx["connector_id"], draw, True
        )

    await services.writer.run(store)
    log.warning(
        "site %s: %s refused the limit of transaction %s; counted at %s %s until it reconnects",
        site["id"],
        tx["station_id"],
        tx["id"],
        draw,
        site["unit"],
    )
    return draw


async def _send(services: Services, site: dict[str, Any], tx: dict[str, Any], value: float) -> str:
    """``accepted``, ``failed`` (not delivered) or the station's refusal (status/error code)."""
    tx_id = int(tx["id"])
    level = await stack_level(services, site, tx["station_id"])
    payload = {
        "connectorId": tx["connector_id"],
        "csChargingProfiles": site_profile(tx_id, level, site["unit"], value),
    }
    try:
        answer = await send_command(services, tx["station_id"], "SetChargingProfile", payload)
    except StationCallError as exc:
        log.warning("site %s: transaction %s limit %s refused: %s", site["id"], tx_id, value, exc)
        return str(exc.code)
    except (CommandError, StationNotConnected, StationTimeout) as exc:
        log.warning("site %s: could not limit transaction %s: %s", site["id"], tx_id, exc)
        return _FAILED
    if answer.get("status") != "Accepted":
        log.warning("site %s: transaction %s limit %s %s", site["id"], tx_id, value, answer)
        return str(answer.get("status"))

    async def store(conn: AsyncConnection) -> None:
        await repo.set_allocation(
            conn, site["id"], tx_id, tx["station_id"], tx["connector_id"], value
        )

    await services.writer.run(store)
    return _ACCEPTED


# -- the station's ChargeProfileMaxStackLevel ------------------------------------------------

_MAX_STACK = "sites.max_stack_level"


async def stack_level(services: Services, site: dict[str, Any], station_id: str) -> int:
    """The site's stackLevel, lowered to what the station accepts (its reported
    ChargeProfileMaxStackLevel): a profile above it is refused."""
    maximum = await station_max_stack_level(services, station_id)
    level = int(site["stack_level"])
    return level if maximum is None else max(0, min(level, maximum))


async def station_max_stack_level(services: Services, station_id: str) -> int | None:
    """From the stored configuration, else asked once (GetConfiguration); cached per station and
    dropped when its configuration changes (invalidation kind ``station_configuration``)."""
    cache: dict[str, int | None] = services.features.setdefault(_MAX_STACK, {})
    if station_id in cache:
        return cache[station_id]
    async with services.engine.connect() as conn:
        rows = await stations_repo.get_configuration(conn, station_id)
    known = [r for r in rows if same_key(r["key"], CHARGE_PROFILE_MAX_STACK_LEVEL)]
    if known:
        value = _as_level(known[0]["value"])
    else:
        try:
            answer = await send_command(
                services,
                station_id,
                "GetConfiguration",
                {"key": [CHARGE_PROFILE_MAX_STACK_LEVEL]},
            )
        except (CommandError, StationNotConnected, StationTimeout, StationCallError) as exc:
            log.info("%s: ChargeProfileMaxStackLevel not readable now: %s", station_id, exc)
            return None  # not cached: asked again next time
        entries = [
            e
            for e in answer.get("configurationKey") or []
            if same_key(e.get("key"), CHARGE_PROFILE_MAX_STACK_LEVEL)
        ]
        value = _as_level(entries[0].get("value")) if entries else None
    cache[station_id] = value
    return value


def _as_level(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


_MEMBERS = "sites.members"
_MEMBERS_TTL = 5.0
_MEMBERS_LOADING = "sites.members.loading"


async def _site_members(services: Services) -> frozenset[str]:
    """Stations that belong to a site, cached briefly: every transaction start and stop asks, and
    most networks have no sites at all."""
    cached = services.features.get(_MEMBERS)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]  # type: ignore[no-any-return]
    # Single flight: in a reconnect storm thousands of boots miss at the same moment; one query
    # answers them all (one each exhausted the PostgreSQL pool).
    loading: asyncio.Future[frozenset[str]] | None = services.features.get(_MEMBERS_LOADING)
    if loading is not None:
        return await asyncio.shield(loading)
    loading = asyncio.get_running_loop().create_future()
    services.features[_MEMBERS_LOADING] = loading
    try:
        members = frozenset(await services.read(repo.all_site_station_ids))
    except BaseException as exc:
        loading.set_exception(exc)
        loading.exception()  # retrieved: waiters (if any) get it raised
        raise
    finally:
        services.features.pop(_MEMBERS_LOADING, None)
    services.features[_MEMBERS] = (time.monotonic() + _MEMBERS_TTL, members)
    loading.set_result(members)
    return members


def forget_site_members(services: Services) -> None:
    """Call after changing which stations belong to which site (every node forgets)."""
    services.invalidation.publish(SITE_MEMBERS)


async def rebalance_station_site(services: Services, station_id: str) -> None:
    if station_id not in await _site_members(services):
        return
    site_id = await services.read(lambda conn: repo.site_of_station(conn, station_id))
    if site_id is not None:
        await rebalance(services, site_id)


@on_startup
async def setup(services: Services) -> None:
    async def on_started(station_id: str, status: str, **_: Any) -> None:
        if status == "Accepted":
            await rebalance_station_site(services, station_id)

    async def on_stopped(station_id: str, **_: Any) -> None:
        await rebalance_station_site(services, station_id)

    levels: dict[str, int | None] = services.features.setdefault(_MAX_STACK, {})
    services.invalidation.subscribe(
        STATION_CONFIGURATION,
        lambda station_id: levels.clear() if station_id is None else levels.pop(station_id, None),
    )
    services.invalidation.subscribe(
        SITE_MEMBERS, lambda _key: services.features.pop(_MEMBERS, None)
    )
    services.events.subscribe(events.TRANSACTION_STARTED, on_started)
    services.events.subscribe(events.TRANSACTION_STOPPED, on_stopped)
    services.features[_RESEND_KEY] = set()

    async def on_connected(station_id: str, **_: Any) -> None:
        await resend_after_reconnect(services, station_id)

    async def on_booted(station_id: str, status: str, **_: Any) -> None:
        if status == "Accepted":
            await resend_after_reconnect(services, station_id)

    services.events.subscribe(events.STATION_CONNECTED, on_connected)
    services.events.subscribe(events.STATION_BOOTED, on_booted)


async def resend_after_reconnect(services: Services, station_id: str) -> None:
    """See the module docstring (Reconnect)."""
    if not services.settings.site_resend_on_reconnect:
        return
    pending: set[str] = services.features[_RESEND_KEY]
    if station_id in pending or station_id not in await _site_members(services):
        return  # the connect/boot pair of one reconnect: one resend; or not in a site
    # Claimed before any await, so the other event of the pair sees it.
    pending.add(station_id)
    try:
        async with services.engine.connect() as conn:
            site_id = await repo.site_of_station(conn, station_id)
        if site_id is None:
            return
        await asyncio.sleep(RESEND_DELAY)
    finally:
        pending.discard(station_id)
    if not await services.gateway.connected(station_id):
        return
    registration = services.registration.get(station_id)
    if registration is None:
        async with services.engine.connect() as conn:
            station = await stations_repo.get_station(conn, station_id)
        registration = station.get("registration_status") if station else None
    if registration in ("Pending", "Rejected"):
        return
    result = await rebalance(services, site_id, refresh_station=station_id)
    log.info("site %s: %s reconnected, sent %s", site_id, station_id, result["sent"])
