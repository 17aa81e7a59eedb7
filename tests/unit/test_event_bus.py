"""The event bus: what an emit costs when nobody listens, observers, and what a node observes."""

from __future__ import annotations

from typing import Any

from watthub.domain import events
from watthub.domain.events import EVERY_EVENT, EventBus


async def test_emit_without_listeners_spawns_nothing_and_observers_come_and_go() -> None:
    bus = EventBus()
    changes: list[frozenset[str]] = []
    bus.on_interest = lambda: changes.append(bus.interest())
    bus.emit(events.METER_VALUES, station_id="CP1", meter_value=[])
    assert not bus._tasks  # no listener, no observer: no task either

    inline: list[tuple[str, Any]] = []
    awaited: list[str] = []

    def plain(event: str, data: dict[str, Any]) -> None:
        inline.append((event, data["station_id"]))

    async def coroutine(event: str, data: dict[str, Any]) -> None:
        awaited.append(event)

    async def acting(station_id: str, **_: Any) -> None:
        awaited.append(f"acted {station_id}")

    bus.subscribe_all(plain)
    bus.subscribe_all(coroutine)
    bus.subscribe(events.STATION_BOOTED, acting, everywhere=True)
    bus.emit(events.STATION_BOOTED, station_id="CP1", status="Accepted")
    assert inline == [(events.STATION_BOOTED, "CP1")]  # a plain observer runs inline
    await bus.drain()
    assert sorted(awaited) == ["acted CP1", events.STATION_BOOTED]

    bus.unsubscribe_all(plain)
    bus.unsubscribe_all(coroutine)
    bus.deliver_remote(events.STATION_BOOTED, {"station_id": "CP2", "status": "Accepted"})
    await bus.drain()
    assert inline == [(events.STATION_BOOTED, "CP1")]
    assert sorted(awaited) == ["acted CP1", "acted CP2", events.STATION_BOOTED]
    # What this node observes, as the cluster relay sees it after each change.
    assert changes == [
        frozenset({EVERY_EVENT}),
        frozenset({EVERY_EVENT}),
        frozenset({EVERY_EVENT}),
        frozenset({EVERY_EVENT}),
        frozenset({events.STATION_BOOTED}),
    ]
