"""Reservation profile (OCPP 1.6 §3.11, §5.1, §5.13; errata §4.12).

WattHub assigns reservation ids, records the station's answer and follows each reservation:
active → used (a StartTransaction with its reservationId by the reserved tag or a tag of the same
group) / expired (WattHub's own timer, not only the station's word) / cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain.authorization import AUTH_HOOKS, STARTED_HOOKS, AuthRequest
from watthub.domain.context import Services
from watthub.domain.invalidation import RESERVATION_HOLDERS
from watthub.domain.registry import after_command, before_command, on_startup
from watthub.storage import reservations_repo, tags_repo
from watthub.timeutil import as_utc, parse_ts, utcnow

log = logging.getLogger("watthub.reservation")

_WAKE = "reservation_wake"
_HOLDERS = "reservation_holders"
# Upper bound of the expiry timer's sleep: also catches rows written by another process.
MAX_SLEEP = 30.0


class Holders:
    """The stations that may hold a reservation in force (sent or active), kept in memory so
    that a StartTransaction at any other station asks the database nothing about reservations
    (a round trip per start on PostgreSQL).

    A superset: a station joins when its ReserveNow is recorded (on every node, through
    ``services.invalidation``) and leaves only when the expiry loop reloads the set from the
    database. Until the first load, and after relayed messages may have been missed, every
    station counts as a holder."""

    def __init__(self) -> None:
        self.stations: set[str] = set()
        self.everyone = True
        self._joined_while_loading: set[str] | None = None

    def may_hold(self, station_id: str) -> bool:
        return self.everyone or station_id in self.stations

    def joined(self, station_id: str | None) -> None:
        if station_id is None:  # a relay that may have missed messages: ask until reloaded
            self.everyone = True
            return
        self.stations.add(station_id)
        if self._joined_while_loading is not None:
            self._joined_while_loading.add(station_id)

    async def reload(self, conn: AsyncConnection) -> None:
        # Joins arrive after their reservation is committed: one that comes while the query
        # runs may not be in its answer, so it is kept.
        self._joined_while_loading = joined = set()
        everyone = self.everyone
        self.everyone = False
        try:
            found = await reservations_repo.stations_holding(conn)
        except BaseException:
            self.everyone = self.everyone or everyone
            raise
        finally:
            self._joined_while_loading = None
        self.stations = found | joined

    @staticmethod
    def of(services: Services) -> Holders:
        return services.features.setdefault(_HOLDERS, Holders())  # type: ignore[no-any-return]


@before_command("ReserveNow")
async def assign_reservation(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Fill reservationId (unique across WattHub) and the reserved tag's group when omitted,
    and record the reservation as sent."""

    async def op(conn: AsyncConnection) -> dict[str, Any]:
        out = dict(payload)
        if out.get("reservationId") is None:
            out["reservationId"] = await reservations_repo.next_reservation_id(conn)
            # Also in the caller's dict: the typed endpoint reports the id it got.
            payload["reservationId"] = out["reservationId"]
        if not out.get("parentIdTag") and out.get("idTag"):
            tag = await tags_repo.get_tag(conn, out["idTag"])
            if tag is not None and tag["parent_id_tag"]:
                out["parentIdTag"] = tag["parent_id_tag"]
        try:
            expiry = parse_ts(out["expiryDate"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return out  # the schema check that follows explains what is wrong
        if not isinstance(out.get("connectorId"), int) or not out.get("idTag"):
            return out
        await reservations_repo.replace_active(conn, station_id, out["reservationId"])
        await reservations_repo.insert(
            conn,
            reservation_id=out["reservationId"],
            station_id=station_id,
            connector_id=out["connectorId"],
            id_tag=out["idTag"],
            parent_id_tag=out.get("parentIdTag"),
            expiry_date=expiry,
        )
        return out

    out = await services.writer.run(op)
    if out.get("reservationId") is not None:
        # Committed: every node's StartTransactions at this station check reservations from
        # now on (before the station is sent the ReserveNow).
        services.invalidation.publish(RESERVATION_HOLDERS, station_id)
    return out


@after_command("ReserveNow")
async def record_reserve_answer(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    status = answer.get("status")

    async def op(conn: AsyncConnection) -> None:
        row = await reservations_repo.latest(conn, station_id, sent["reservationId"], ("sent",))
        if row is None:
            return
        if status == "Accepted":
            await reservations_repo.set_fields(
                conn, row["id"], status="active", station_answer=status
            )
        else:
            await reservations_repo.set_fields(
                conn, row["id"], status="refused", station_answer=status, ended_at=utcnow()
            )

    await services.writer.run(op)
    _wake(services)


@after_command("CancelReservation")
async def record_cancel_answer(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    """Accepted ends the reservation; Rejected (the station no longer has it) is recorded on it,
    not raised: the operator sees the station's word."""
    status = answer.get("status")

    async def op(conn: AsyncConnection) -> None:
        row = await reservations_repo.latest(conn, station_id, sent["reservationId"])
        if row is None:
            return
        values: dict[str, Any] = {"cancel_answer": status}
        if status == "Accepted" and row["status"] in ("sent", "active"):
            values.update(status="cancelled", ended_at=utcnow())
        await reservations_repo.set_fields(conn, row["id"], **values)

    await services.writer.run(op)


def _matches(reservation: dict[str, Any], id_tag: str, parent: str | None) -> bool:
    """The reserved tag itself, a tag of the same group, or the group's own tag."""
    tag = id_tag.casefold()
    group = (reservation["parent_id_tag"] or "").casefold()
    if reservation["id_tag"].casefold() == tag:
        return True
    return bool(group) and (group == tag or group == (parent or "").casefold())


async def honour_reservations(
    services: Services, conn: AsyncConnection | None, request: AuthRequest, info: dict[str, Any]
) -> dict[str, Any]:
    """StartTransaction on a reserved connector: only the reservation's tag or group.

    The verdict for a refused tag is Invalid (OCPP has no 'reserved for someone else')."""
    if request.action != "StartTransaction" or info.get("status") != "Accepted":
        return info
    if request.reservation_id is None and not Holders.of(services).may_hold(request.station_id):
        return info
    assert conn is not None  # a StartTransaction decides inside its write
    active = await reservations_repo.active_for(conn, request.station_id)
    if not active:
        return info
    parent = info.get("parentIdTag")
    if request.reservation_id is not None:
        for r in active:
            if r["reservation_id"] == request.reservation_id:
                if not _matches(r, request.id_tag, parent):
                    return {"status": "Invalid"}
                return info  # marked used by use_reservation, once the start is Accepted
    for r in active:
        if r["connector_id"] == request.connector_id and not _matches(r, request.id_tag, parent):
            return {"status": "Invalid"}
    return info


async def use_reservation(
    conn: AsyncConnection, request: AuthRequest, info: dict[str, Any], transaction_id: int
) -> None:
    """The reservation a StartTransaction names becomes used, in the same write as the new
    transaction, only when the final verdict is Accepted: a start answered ConcurrentTx (or
    anything else) leaves the reservation active for the rightful start."""
    if request.reservation_id is None or info.get("status") != "Accepted":
        return
    for r in await reservations_repo.active_for(conn, request.station_id):
        if r["reservation_id"] == request.reservation_id and _matches(
            r, request.id_tag, info.get("parentIdTag")
        ):
            await reservations_repo.set_fields(
                conn, r["id"], status="used", ended_at=utcnow(), transaction_id=transaction_id
            )
            return


AUTH_HOOKS.append(honour_reservations)
STARTED_HOOKS.append(use_reservation)


def _wake(services: Services) -> None:
    wake = services.features.get(_WAKE)
    if wake is not None:
        wake.set()


async def expire_loop(services: Services) -> None:
    """Expire reservations at their expiryDate, sleeping until the next one is due."""
    wake: asyncio.Event = services.features[_WAKE]
    while True:
        wake.clear()
        delay = MAX_SLEEP
        try:
            # Once cluster-wide; an idempotent update, so it runs locally while Redis is away.
            async with services.leases.held("reservation-expiry", local_ok=True) as mine:
                expired = (
                    await services.writer.run(
                        lambda conn: reservations_repo.expire_due(conn, utcnow())
                    )
                    if mine
                    else []
                )
            for r in expired:
                log.info("reservation %s on %s expired", r["reservation_id"], r["station_id"])
            async with services.engine.connect() as conn:
                upcoming = as_utc(await reservations_repo.next_expiry(conn))
                await Holders.of(services).reload(conn)
            if upcoming is not None:
                delay = min(MAX_SLEEP, max(0.05, (upcoming - utcnow()).total_seconds()))
        except Exception:
            log.exception("reservation expiry check failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)


@on_startup
async def start(services: Services) -> asyncio.Task[None]:
    services.features[_WAKE] = asyncio.Event()
    holders = Holders.of(services)

    def joined(station_id: str | None) -> None:
        holders.joined(station_id)
        if station_id is None:
            _wake(services)  # reload now rather than ask for every start until the next check

    services.invalidation.subscribe(RESERVATION_HOLDERS, joined)
    return asyncio.create_task(expire_loop(services), name="watthub-reservation-expiry")
