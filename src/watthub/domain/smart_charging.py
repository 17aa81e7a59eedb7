"""Smart Charging profile: checks before SetChargingProfile / RemoteStartTransaction, bookkeeping
of what each station accepted, and WattHub's own composite schedule.

Every path (typed endpoints, the generic ``/ocpp/{Action}`` endpoint, the CLI, site limits) goes
through ``send_command``, so the hooks below are the single place for these rules.

Refuse (422) vs warn: a profile the station must reject by the specification (what
``validate_profile`` reports: wrong purpose for the connector, TxProfile on a connector where
WattHub knows no running transaction, bad schedule...) is refused with the reason. What may be
legitimate but looks suspicious — a transactionId that is not the connector's current one (the
station may know a transaction we have not heard of yet), a validTo in the past, a stackLevel above
the station's ChargeProfileMaxStackLevel as last read — only produces a warning (logged and
returned by the typed endpoints), so an operator or a test tool can still send it.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain import events
from watthub.domain.commands import InvalidCommand
from watthub.domain.context import Services
from watthub.domain.invalidation import PROFILE_HOLDERS
from watthub.domain.registry import after_command, before_command, on_startup
from watthub.smart_charging import (
    InstalledProfiles,
    compare_schedules,
    composite_schedule,
    parse_ocpp_datetime,
    validate_profile,
)
from watthub.storage import smart_charging_repo as repo
from watthub.storage import stations_repo, transactions_repo
from watthub.timeutil import as_utc, utcnow

log = logging.getLogger("watthub.smart_charging")

# Per API request (set by the typed endpoints): warnings of the hooks, and the composite check
# of a GetCompositeSchedule. Hooks run in the caller's task, so they see the caller's holder.
_warnings: ContextVar[list[str] | None] = ContextVar("smart_charging_warnings", default=None)
_composite: ContextVar[dict[str, Any] | None] = ContextVar("smart_charging_composite", default=None)


def collect_warnings() -> list[str]:
    holder: list[str] = []
    _warnings.set(holder)
    return holder


def collect_composite() -> dict[str, Any]:
    holder: dict[str, Any] = {}
    _composite.set(holder)
    return holder


def _warn(station_id: str, message: str) -> None:
    log.warning("%s: %s", station_id, message)
    holder = _warnings.get()
    if holder is not None:
        holder.append(message)


def refuse(action: str, reasons: list[str]) -> InvalidCommand:
    return InvalidCommand(f"{action} refused: " + "; ".join(reasons))


# --- SetChargingProfile ---------------------------------------------------------------------------


async def _stored_config(conn: AsyncConnection, station_id: str) -> dict[str, str | None]:
    return {r["key"]: r["value"] for r in await stations_repo.get_configuration(conn, station_id)}


@before_command("SetChargingProfile")
async def check_set_charging_profile(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    profile = payload.get("csChargingProfiles")
    connector = payload.get("connectorId")
    if not isinstance(profile, dict) or not isinstance(connector, int):
        return payload  # the schema check that follows explains what is missing
    async with services.engine.connect() as conn:
        open_txs = (
            await transactions_repo.open_transactions(conn, station_id, connector)
            if connector > 0
            else []
        )
        config = await _stored_config(conn, station_id)
    reasons = validate_profile(
        profile,
        connector_id=connector,
        context="set",
        connector_has_active_tx=bool(open_txs) if connector > 0 else None,
    )
    if reasons:
        raise refuse("SetChargingProfile", reasons)
    tx_id = profile.get("transactionId")
    if tx_id is not None and tx_id not in {t["id"] for t in open_txs}:
        _warn(
            station_id,
            f"transactionId {tx_id} is not the running transaction on connector {connector} "
            f"(running: {[t['id'] for t in open_txs]})",
        )
    _common_warnings(station_id, profile, config)
    return payload


def _common_warnings(
    station_id: str, profile: dict[str, Any], config: dict[str, str | None]
) -> None:
    valid_to = profile.get("validTo")
    if valid_to is not None and parse_ocpp_datetime(valid_to) <= utcnow():
        _warn(station_id, f"validTo {valid_to} is in the past: the profile will never apply")
    max_level = config.get("ChargeProfileMaxStackLevel")
    if max_level is not None and max_level.isdigit() and profile["stackLevel"] > int(max_level):
        _warn(
            station_id,
            f"stackLevel {profile['stackLevel']} is above the station's "
            f"ChargeProfileMaxStackLevel {max_level}",
        )
    max_periods = config.get("ChargingScheduleMaxPeriods")
    periods = profile["chargingSchedule"]["chargingSchedulePeriod"]
    if max_periods is not None and max_periods.isdigit() and len(periods) > int(max_periods):
        _warn(
            station_id,
            f"{len(periods)} periods, the station's ChargingScheduleMaxPeriods is {max_periods}",
        )


async def _update_installed(services: Services, station_id: str, change: Any) -> list[Any]:
    """Load, change (a function of InstalledProfiles) and save the station's profiles in one
    committed write; return what ``change`` returned (the removed entries)."""

    async def op(conn: AsyncConnection) -> list[Any]:
        installed = await repo.load_installed(conn, station_id)
        removed = change(installed)
        await repo.save_installed(conn, station_id, installed)
        holders = _stations_with_profiles(services)
        if len(installed):
            holders.add(station_id)
        else:
            holders.discard(station_id)
        return list(removed)

    removed = await services.writer.run(op)
    if station_id in _stations_with_profiles(services):
        # The node holding the station (maybe not this one) cleans up at transaction end.
        services.invalidation.publish(PROFILE_HOLDERS, station_id)
    return removed


_HOLDERS = "smart_charging.stations_with_profiles"


def _stations_with_profiles(services: Services) -> set[str]:
    """Stations with at least one installed profile, kept in memory so that the end of every
    transaction at a station without profiles costs nothing."""
    return services.features.setdefault(_HOLDERS, set())  # type: ignore[no-any-return]


@after_command("SetChargingProfile")
async def remember_accepted_profile(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    if answer.get("status") != "Accepted":
        return
    connector = sent["connectorId"]
    profile = sent["csChargingProfiles"]
    removed = await _update_installed(
        services, station_id, lambda inst: inst.install(connector, profile)
    )
    log.info(
        "%s accepted profile %s on connector %s (replaced %s)",
        station_id,
        profile["chargingProfileId"],
        connector,
        [e.profile_id for e in removed],
    )


# --- ClearChargingProfile -------------------------------------------------------------------------


@after_command("ClearChargingProfile")
async def forget_cleared_profiles(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    # Only an Accepted answer tells us the station removed something (Unknown: nothing matched).
    if answer.get("status") != "Accepted":
        return
    removed = await _update_installed(
        services,
        station_id,
        lambda inst: inst.clear(
            id=sent.get("id"),
            connector_id=sent.get("connectorId"),
            purpose=sent.get("chargingProfilePurpose"),
            stack_level=sent.get("stackLevel"),
        ),
    )
    log.info("%s cleared profiles %s", station_id, [e.profile_id for e in removed])


# --- RemoteStartTransaction with a TxProfile --------------------------------------------------------


@before_command("RemoteStartTransaction")
async def check_remote_start_profile(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    profile = payload.get("chargingProfile")
    if profile is None:
        return payload
    connector = payload.get("connectorId", 0)
    if not isinstance(connector, int):
        return payload
    reasons = validate_profile(profile, connector_id=connector, context="remote_start")
    if reasons:
        raise refuse("RemoteStartTransaction", reasons)
    async with services.engine.connect() as conn:
        config = await _stored_config(conn, station_id)
    _common_warnings(station_id, profile, config)
    return payload


@after_command("RemoteStartTransaction")
async def remember_remote_start_profile(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    profile = sent.get("chargingProfile")
    connector = sent.get("connectorId")
    # Without a connectorId the station picks the connector: we cannot tell where it lives.
    if answer.get("status") != "Accepted" or profile is None or not connector:
        return
    await _update_installed(services, station_id, lambda inst: inst.install(connector, profile))


# --- GetCompositeSchedule ---------------------------------------------------------------------------


@before_command("GetCompositeSchedule")
async def note_composite_request(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    holder = _composite.get()
    if holder is not None:
        holder["requested_at"] = utcnow()  # the station computes from receipt ("time X")
    return payload


@after_command("GetCompositeSchedule")
async def compare_composite(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    holder = _composite.get()
    if holder is None:
        holder = {}
    connector = sent["connectorId"]
    duration = sent["duration"]
    theirs = answer.get("chargingSchedule")
    start: datetime = holder.get("requested_at") or utcnow()
    if answer.get("scheduleStart"):
        start = parse_ocpp_datetime(answer["scheduleStart"])
    unit = sent.get("chargingRateUnit") or (theirs or {}).get("chargingRateUnit")
    ours = await compute_composite(services, station_id, connector, start, duration, unit)
    holder["watthub"] = ours
    if answer.get("status") == "Accepted" and theirs is not None:
        their_start = (
            parse_ocpp_datetime(answer["scheduleStart"]) if answer.get("scheduleStart") else None
        )
        diffs = compare_schedules(
            ours,
            theirs,
            their_start=their_start,
            voltage=services.settings.smart_charging_voltage,
        )
        holder["differences"] = diffs
        if diffs:
            log.warning("%s composite schedule differs from WattHub's: %s", station_id, diffs)
    else:
        holder["differences"] = None


# --- WattHub's own composite ---------------------------------------------------------------------


async def compute_composite(
    services: Services,
    station_id: str,
    connector_id: int,
    start: datetime,
    duration: int,
    unit: str | None = None,
    *,
    candidate: tuple[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The composite schedule of ``connector_id`` from the profiles the station accepted, plus
    ``candidate`` (connectorId, profile) installed on top when previewing."""
    async with services.engine.connect() as conn:
        installed = await repo.load_installed(conn, station_id)
        txs = (
            await transactions_repo.open_transactions(conn, station_id, connector_id)
            if connector_id > 0
            else []
        )
    if candidate is not None:
        installed.install(*candidate)
    tx = txs[-1] if txs else None
    return composite_schedule(
        installed.by_connector(),
        connector_id,
        start,
        duration,
        unit,  # type: ignore[arg-type]
        transaction_start=as_utc(tx["start_time"]) if tx else None,
        transaction_id=int(tx["id"]) if tx else None,
        voltage=services.settings.smart_charging_voltage,
    )


# --- transactions ending ------------------------------------------------------------------------


async def _transaction_stopped(
    services: Services, station_id: str, transaction_id: int, connector_id: int, **_: Any
) -> None:
    def end(inst: InstalledProfiles) -> list[Any]:
        return inst.end_transaction(transaction_id, connector_id or None)

    if station_id not in _stations_with_profiles(services):
        return
    removed = await _update_installed(services, station_id, end)
    if removed:
        log.info(
            "%s: transaction %s ended, TxProfiles %s gone",
            station_id,
            transaction_id,
            [e.profile_id for e in removed],
        )


@on_startup
async def setup(services: Services) -> None:
    async def on_stopped(**data: Any) -> None:
        await _transaction_stopped(services, **data)

    async with services.engine.connect() as conn:
        _stations_with_profiles(services).update(await repo.stations_with_installed(conn))
    services.events.subscribe(events.TRANSACTION_STOPPED, on_stopped)

    def holder(station_id: str | None) -> None:
        # May hold profiles now; the end of its transaction reads the truth from the database.
        if station_id is not None:
            _stations_with_profiles(services).add(station_id)

    services.invalidation.subscribe(PROFILE_HOLDERS, holder)
