"""The stations that may hold a reservation (``domain/reservation.Holders``): a superset that
never loses a station joining while it is reloaded, and counts everyone as a holder until it
knows better."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from watthub.domain import reservation
from watthub.storage import reservations_repo


async def test_a_station_joining_while_the_set_reloads_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holders = reservation.Holders()
    assert holders.may_hold("ANY")  # nothing loaded yet: every station is asked about

    async def stations_holding(_conn: Any) -> set[str]:
        # The database answers from before CP2's reservation was committed; CP2 joins meanwhile.
        holders.joined("CP2")
        await asyncio.sleep(0)
        return {"CP1"}

    monkeypatch.setattr(reservations_repo, "stations_holding", stations_holding)
    await holders.reload(None)  # type: ignore[arg-type]
    assert holders.may_hold("CP1") and holders.may_hold("CP2")
    assert not holders.may_hold("CP3")

    async def none_left(_conn: Any) -> set[str]:
        return set()

    monkeypatch.setattr(reservations_repo, "stations_holding", none_left)
    await holders.reload(None)  # type: ignore[arg-type]
    assert not holders.may_hold("CP1") and not holders.may_hold("CP2")


async def test_missed_messages_make_every_station_a_holder_until_reloaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holders = reservation.Holders()

    async def nothing(_conn: Any) -> set[str]:
        return set()

    monkeypatch.setattr(reservations_repo, "stations_holding", nothing)
    await holders.reload(None)  # type: ignore[arg-type]
    assert not holders.may_hold("CP1")
    holders.joined(None)  # the cluster relay was away: joins may have been missed
    assert holders.may_hold("CP1")

    async def failing(_conn: Any) -> set[str]:
        raise OSError("database away")

    monkeypatch.setattr(reservations_repo, "stations_holding", failing)
    with pytest.raises(OSError):
        await holders.reload(None)  # type: ignore[arg-type]
    assert holders.may_hold("CP1")  # a failed reload forgets nothing

    async def missed_during_load(_conn: Any) -> set[str]:
        holders.joined(None)
        return set()

    monkeypatch.setattr(reservations_repo, "stations_holding", missed_during_load)
    await holders.reload(None)  # type: ignore[arg-type]
    assert holders.may_hold("CP1")  # missed again while loading: still asks
    monkeypatch.setattr(reservations_repo, "stations_holding", nothing)
    await holders.reload(None)  # type: ignore[arg-type]
    assert not holders.may_hold("CP1")
