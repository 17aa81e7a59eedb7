"""Tests for watthub.smart_charging.installed (the station's accepted-profile bookkeeping)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from watthub.smart_charging import InstalledProfile, InstalledProfiles


def profile(
    pid: int,
    purpose: str = "TxDefaultProfile",
    stack: int = 0,
    tx: int | None = None,
    limit: float = 16.0,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }
    if tx is not None:
        p["transactionId"] = tx
    return p


def ids(items: Any) -> list[int]:
    return [e.profile_id for e in items]


def tc067_station() -> InstalledProfiles:
    """The three profiles of TC_067 (CP max on 0, TxDefault and TxProfile on connector 1)."""
    station = InstalledProfiles()
    station.install(0, profile(1, "ChargePointMaxProfile", stack=2))
    station.install(1, profile(2, "TxDefaultProfile", stack=2))
    station.install(1, profile(3, "TxProfile", stack=2, tx=77))
    return station


def test_install_and_query() -> None:
    station = tc067_station()
    assert len(station) == 3
    assert [p["chargingProfileId"] for p in station.for_connector(1)] == [2, 3]
    assert station.by_connector() == {
        0: [profile(1, "ChargePointMaxProfile", stack=2)],
        1: [profile(2, stack=2), profile(3, "TxProfile", stack=2, tx=77)],
    }


def test_same_id_replaces_on_any_connector() -> None:
    station = InstalledProfiles()
    station.install(1, profile(5, limit=10))
    replaced = station.install(2, profile(5, stack=3, limit=20))
    assert replaced == [InstalledProfile(1, profile(5, limit=10))]
    assert station.for_connector(1) == []
    assert station.for_connector(2) == [profile(5, stack=3, limit=20)]


def test_same_stack_and_purpose_on_same_connector_replaces() -> None:
    station = InstalledProfiles()
    station.install(1, profile(1, stack=1))
    assert station.install(1, profile(2, stack=1)) == [InstalledProfile(1, profile(1, stack=1))]
    assert ids(station) == [2]


def test_different_stack_purpose_or_connector_coexist() -> None:
    station = InstalledProfiles()
    station.install(1, profile(1, stack=1))
    assert station.install(1, profile(2, stack=2)) == []
    assert station.install(1, profile(3, "TxProfile", stack=1, tx=9)) == []
    assert station.install(2, profile(4, stack=1)) == []
    assert station.install(0, profile(5, stack=1)) == []
    assert sorted(ids(station)) == [1, 2, 3, 4, 5]


def test_remote_start_tx_profile_replaced_by_later_set_for_transaction() -> None:
    station = InstalledProfiles()
    station.install(1, profile(10, "TxProfile", stack=1))  # from RemoteStartTransaction
    replaced = station.install(1, profile(11, "TxProfile", stack=1, tx=123))
    assert ids(replaced) == [10]
    assert ids(station) == [11]


def test_install_copies_input() -> None:
    station = InstalledProfiles()
    p = profile(1)
    station.install(1, p)
    p["stackLevel"] = 99
    station.for_connector(1)[0]["stackLevel"] = 98
    next(iter(station)).profile["stackLevel"] = 97
    assert station.for_connector(1)[0]["stackLevel"] == 0


def test_tc067_clear_by_id_ignores_other_fields() -> None:
    station = tc067_station()
    removed = station.clear(id=1, connector_id=1, purpose="TxProfile", stack_level=0)
    assert ids(removed) == [1]
    assert removed[0].connector_id == 0
    assert sorted(ids(station)) == [2, 3]


def test_tc067_clear_by_criteria_then_all() -> None:
    station = tc067_station()
    removed = station.clear(connector_id=1, purpose="TxDefaultProfile", stack_level=2)
    assert ids(removed) == [2]
    removed = station.clear()
    assert sorted(ids(removed)) == [1, 3]
    assert len(station) == 0
    assert station.clear() == []  # nothing left → station answers Unknown


def test_clear_unknown_id_returns_nothing() -> None:
    station = tc067_station()
    assert station.clear(id=999) == []
    assert len(station) == 3


def test_clear_criteria_are_anded() -> None:
    station = InstalledProfiles()
    station.install(0, profile(1, stack=1))
    station.install(1, profile(2, stack=1))
    station.install(1, profile(3, stack=2))
    station.install(2, profile(4, stack=2))
    assert ids(station.clear(connector_id=1, stack_level=2)) == [3]
    # connectorId 0 means "set on connector 0", not "every connector".
    assert ids(station.clear(connector_id=0)) == [1]
    assert ids(station.clear(stack_level=2)) == [4]
    assert ids(station.clear(purpose="TxProfile")) == []
    assert ids(station) == [2]


def test_end_transaction_removes_bound_and_unbound_tx_profiles_on_its_connector() -> None:
    station = InstalledProfiles()
    station.install(1, profile(1, "TxProfile", stack=1, tx=50))
    station.install(1, profile(2, "TxProfile", stack=2))  # unbound, belongs to tx 50
    station.install(2, profile(3, "TxProfile", stack=1))  # unbound, other connector
    station.install(2, profile(4, "TxProfile", stack=2, tx=51))
    station.install(1, profile(5, "TxDefaultProfile", stack=1))
    removed = station.end_transaction(50)
    assert sorted(ids(removed)) == [1, 2]
    assert sorted(ids(station)) == [3, 4, 5]


def test_end_transaction_with_explicit_connector() -> None:
    station = InstalledProfiles()
    station.install(2, profile(3, "TxProfile", stack=1))  # RemoteStart profile, never bound
    assert station.end_transaction(99) == []  # connector unknown: leave unbound ones alone
    assert ids(station.end_transaction(99, connector_id=2)) == [3]
    assert len(station) == 0


def test_end_transaction_keeps_other_purposes() -> None:
    station = tc067_station()
    assert ids(station.end_transaction(77)) == [3]
    assert sorted(ids(station)) == [1, 2]


def test_serialisation_round_trip_through_json() -> None:
    station = tc067_station()
    data = json.loads(json.dumps(station.to_list()))
    assert data[0] == {
        "connectorId": 0,
        "csChargingProfiles": profile(1, "ChargePointMaxProfile", stack=2),
    }
    restored = InstalledProfiles.from_list(data)
    assert restored.to_list() == station.to_list()
    assert restored.by_connector() == station.by_connector()


operations = st.lists(
    st.tuples(
        st.integers(0, 2),  # connector
        st.integers(1, 6),  # profile id
        st.sampled_from(["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]),
        st.integers(0, 2),  # stack level
    ),
    max_size=25,
)


@given(operations)
def test_invariants_after_any_install_sequence(ops: list[tuple[int, int, str, int]]) -> None:
    station = InstalledProfiles()
    for connector, pid, purpose, stack in ops:
        station.install(connector, profile(pid, purpose, stack))
        # The profile just installed is always present, exactly once.
        assert ids(station).count(pid) == 1
    entries = list(station)
    assert len({e.profile_id for e in entries}) == len(entries)
    keys = [
        (e.connector_id, e.profile["stackLevel"], e.profile["chargingProfilePurpose"])
        for e in entries
    ]
    assert len(set(keys)) == len(keys)
    assert InstalledProfiles.from_list(station.to_list()).to_list() == station.to_list()


@given(operations, st.integers(0, 2), st.integers(0, 2))
def test_clear_partitions_profiles(
    ops: list[tuple[int, int, str, int]], connector: int, stack: int
) -> None:
    station = InstalledProfiles()
    for c, pid, purpose, s in ops:
        station.install(c, profile(pid, purpose, s))
    before = {e.profile_id: e for e in station}
    removed = station.clear(connector_id=connector, stack_level=stack)
    assert all(e.connector_id == connector and e.profile["stackLevel"] == stack for e in removed)
    assert not any(
        e.connector_id == connector and e.profile["stackLevel"] == stack for e in station
    )
    assert sorted(ids(removed) + ids(station)) == sorted(before)
