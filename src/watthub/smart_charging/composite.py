"""Composite charging schedule, computed the way an OCPP 1.6 station does (§3.13.4, §5.7).

Why WattHub computes it: to show operators the effective limit without a round trip, and to check
a station's GetCompositeSchedule.conf against what the CSMS believes is installed.

Evaluation model (per instant t):

* A profile *applies* at t when validFrom <= t < validTo (missing bound = open) and t lies in the
  schedule's active window: Absolute from startSchedule for ``duration`` s (no duration = open
  ended); Relative the same but anchored at the transaction start (no transaction → never);
  Recurring Daily/Weekly repeats from startSchedule (never before it), the offset taken modulo the
  recurrence length, so periods past the recurrence length are cut off and ``duration`` (if any)
  limits each repetition. The period in force is the last one with startPeriod <= offset.
* Within one purpose the applying profile with the highest stackLevel wins (a tie, which only
  arises with inconsistent data, goes to the later profile in the input sequence).
* Connector > 0: Tx limit = TxProfile (of ``transaction_id`` or without transactionId, when a
  transaction id is given), else the connector's TxDefaultProfile, else connector 0's
  TxDefaultProfile. The composite is min(Tx limit, connector 0's ChargePointMaxProfile).
  Connector 0: the ChargePointMaxProfile alone.
* Units: W = A × voltage × phases (phases = the period's numberPhases, default 3). Converted
  limits are floored to one decimal, the OCPP resolution; flooring keeps us on the safe side.

Gaps. Where nothing applies the station runs at its own hardware maximum, which the CSMS does not
know, and OCPP has no "unlimited" limit (``limit`` is a required number). A real station fills
such intervals with its maximum. We therefore:

* return an empty period list if nothing applies anywhere in the window;
* otherwise cover the whole window contiguously from startPeriod 0, giving gap periods the limit
  ``unconstrained_limit`` if the caller knows the station maximum (the result is then exactly
  what a real station reports), else the sentinel ``NO_LIMIT`` (-1.0) without numberPhases.
  A negative limit can never be mistaken for a real limit, and ``compare_schedules`` and
  ``schedule_limit_at`` understand it. ``composite_segments`` gives gaps as ``limit=None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, cast

from .profiles import (
    CHARGE_POINT_MAX,
    RECURRENCE_SECONDS,
    TX_DEFAULT,
    TX_PROFILE,
    RateUnit,
    optional_datetime,
)
from .timefmt import format_ocpp_datetime, parse_ocpp_datetime

__all__ = [
    "NO_LIMIT",
    "Segment",
    "compare_schedules",
    "composite_schedule",
    "composite_segments",
    "schedule_limit_at",
]

NO_LIMIT: Final = -1.0


@dataclass(frozen=True, slots=True)
class Segment:
    """[start_s, end_s) seconds after the composite start with one effective limit.

    ``limit`` None means no profile applies (station maximum); ``profile_id`` is the profile
    that set the limit (for explanations in the UI).
    """

    start_s: int
    end_s: int
    limit: float | None
    number_phases: int | None
    profile_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Parsed:
    profile_id: int
    stack_level: int
    unit: str
    anchor: datetime | None  # startSchedule, or the transaction start for Relative
    recurrence_s: int | None
    duration_s: int | None
    valid_from: datetime | None
    valid_to: datetime | None
    periods: tuple[tuple[int, float, int | None], ...]  # (startPeriod, limit, numberPhases)


@dataclass(frozen=True, slots=True)
class _Value:
    limit: float  # already in the target unit
    phases: int
    profile_id: int


def _parse(profile: Mapping[str, Any], transaction_start: datetime | None) -> _Parsed | None:
    """Pre-parse a profile; None when it can never apply (e.g. Relative without transaction)."""
    schedule = profile["chargingSchedule"]
    kind = profile.get("chargingProfileKind")
    recurrence_s: int | None = None
    if kind == "Relative":
        anchor = transaction_start
    else:
        anchor = optional_datetime(schedule, "startSchedule")
        if kind == "Recurring":
            recurrence_s = RECURRENCE_SECONDS.get(profile.get("recurrencyKind", ""))
            if recurrence_s is None:
                return None
    if anchor is None:
        return None
    periods = tuple(
        sorted(
            (int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
            for p in schedule["chargingSchedulePeriod"]
        )
    )
    return _Parsed(
        profile_id=int(profile["chargingProfileId"]),
        stack_level=int(profile.get("stackLevel", 0)),
        unit=schedule["chargingRateUnit"],
        anchor=anchor,
        recurrence_s=recurrence_s,
        duration_s=schedule.get("duration"),
        valid_from=optional_datetime(profile, "validFrom"),
        valid_to=optional_datetime(profile, "validTo"),
        periods=periods,
    )


def _period_at(p: _Parsed, t: datetime) -> tuple[float, int | None] | None:
    """The (limit, numberPhases) of ``p`` in force at ``t``, or None if ``p`` does not apply."""
    if (p.valid_from is not None and t < p.valid_from) or (
        p.valid_to is not None and t >= p.valid_to
    ):
        return None
    assert p.anchor is not None
    offset = (t - p.anchor).total_seconds()
    if offset < 0:
        return None
    if p.recurrence_s is not None:
        offset %= p.recurrence_s
    if p.duration_s is not None and offset >= p.duration_s:
        return None
    current: tuple[float, int | None] | None = None
    for start, limit, phases in p.periods:
        if start > offset:
            break
        current = (limit, phases)
    return current


def _winner(profiles: Sequence[_Parsed], t: datetime) -> tuple[_Parsed, float, int | None] | None:
    best: tuple[_Parsed, float, int | None] | None = None
    for p in profiles:
        found = _period_at(p, t)
        if found is not None and (best is None or p.stack_level >= best[0].stack_level):
            best = (p, *found)
    return best


def _floor_tenth(value: float) -> float:
    """Floor to one decimal (OCPP resolution); the inner round absorbs binary noise."""
    return math.floor(round(value * 10, 6)) / 10


def _convert(limit: float, src: str, dst: str, phases: int, voltage: float) -> float:
    if src == dst:
        return _floor_tenth(limit)
    factor = voltage * phases
    return _floor_tenth(limit * factor if dst == "W" else limit / factor)


@dataclass(frozen=True, slots=True)
class _Scope:
    """The parsed profiles that matter for one connector, grouped by their role."""

    tx: tuple[_Parsed, ...]
    tx_default_connector: tuple[_Parsed, ...]
    tx_default_station: tuple[_Parsed, ...]
    cp_max: tuple[_Parsed, ...]

    def all(self) -> tuple[_Parsed, ...]:
        return self.tx + self.tx_default_connector + self.tx_default_station + self.cp_max

    def raw_at(self, t: datetime) -> list[tuple[_Parsed, float, int | None]]:
        """Winning (profile, native limit, phases) per side at t: Tx side first, then max."""
        found = []
        for group in (self.tx, self.tx_default_connector, self.tx_default_station):
            win = _winner(group, t)
            if win is not None:
                found.append(win)
                break
        cp = _winner(self.cp_max, t)
        if cp is not None:
            found.append(cp)
        return found


def _scope(
    profiles_by_connector: Mapping[int, Sequence[Mapping[str, Any]]],
    connector_id: int,
    transaction_start: datetime | None,
    transaction_id: int | None,
) -> _Scope:
    def parsed(connector: int, purpose: str) -> tuple[_Parsed, ...]:
        out = []
        for profile in profiles_by_connector.get(connector, ()):
            if profile.get("chargingProfilePurpose") != purpose:
                continue
            if purpose == TX_PROFILE and transaction_id is not None:
                tx = profile.get("transactionId")
                if tx is not None and tx != transaction_id:
                    continue
            p = _parse(profile, transaction_start)
            if p is not None:
                out.append(p)
        return tuple(out)

    cp_max = parsed(0, CHARGE_POINT_MAX)
    if connector_id == 0:
        return _Scope((), (), (), cp_max)
    return _Scope(
        parsed(connector_id, TX_PROFILE),
        parsed(connector_id, TX_DEFAULT),
        parsed(0, TX_DEFAULT),
        cp_max,
    )


def _breakpoints(profiles: Sequence[_Parsed], start: datetime, duration_s: int) -> list[int]:
    """Whole-second offsets in [0, duration_s) where any profile may change its limit."""
    end = start + timedelta(seconds=duration_s)
    instants: list[datetime] = []
    for p in profiles:
        assert p.anchor is not None
        instants += [t for t in (p.valid_from, p.valid_to) if t is not None]
        if p.recurrence_s is None:
            bases = [p.anchor]
        else:
            first = max(0, math.floor((start - p.anchor).total_seconds() / p.recurrence_s))
            last = math.ceil((end - p.anchor).total_seconds() / p.recurrence_s)
            bases = [p.anchor + timedelta(seconds=k * p.recurrence_s) for k in range(first, last)]
        for base in bases:
            instants.append(base)
            offsets = [s for s, _, _ in p.periods]
            if p.duration_s is not None:
                offsets.append(p.duration_s)
            for offset in offsets:
                if p.recurrence_s is None or offset < p.recurrence_s:
                    instants.append(base + timedelta(seconds=offset))
    # Round up: a change at 10.4 s is first visible at whole second 11.
    points = {math.ceil((t - start).total_seconds()) for t in instants}
    return sorted({0} | {s for s in points if 0 < s < duration_s})


def composite_segments(
    profiles_by_connector: Mapping[int, Sequence[Mapping[str, Any]]],
    connector_id: int,
    start: datetime,
    duration_s: int,
    unit: RateUnit | None = None,
    *,
    transaction_start: datetime | None = None,
    transaction_id: int | None = None,
    voltage: float = 230.0,
    default_number_phases: int = 3,
) -> tuple[RateUnit, list[Segment]]:
    """The composite as (unit, merged segments covering [0, duration_s)); gaps have limit None.

    Same arguments and semantics as ``composite_schedule``.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    scope = _scope(profiles_by_connector, connector_id, transaction_start, transaction_id)
    points = _breakpoints(scope.all(), start, duration_s) if duration_s > 0 else []
    raw = [scope.raw_at(start + timedelta(seconds=s)) for s in points]

    target: str | None = unit
    if target is None:
        # The unit of the first applicable profile: earliest limited instant, Tx side first.
        target = next((found[0][0].unit for found in raw if found), "A")

    segments: list[Segment] = []
    for index, (s, found) in enumerate(zip(points, raw, strict=True)):
        end_s = points[index + 1] if index + 1 < len(points) else duration_s
        value: _Value | None = None
        for p, limit, phases in found:
            n = phases or default_number_phases
            candidate = _Value(_convert(limit, p.unit, target, n, voltage), n, p.profile_id)
            # Ties go to fewer phases: the more restrictive reading of an equal limit.
            if value is None or (candidate.limit, candidate.phases) < (value.limit, value.phases):
                value = candidate
        seg = (
            Segment(s, end_s, None, None)
            if value is None
            else Segment(s, end_s, value.limit, value.phases, value.profile_id)
        )
        prev = segments[-1] if segments else None
        if prev is not None and (prev.limit, prev.number_phases) == (seg.limit, seg.number_phases):
            segments[-1] = Segment(
                prev.start_s, end_s, prev.limit, prev.number_phases, prev.profile_id
            )
        else:
            segments.append(seg)
    return cast(RateUnit, target), segments


def composite_schedule(
    profiles_by_connector: Mapping[int, Sequence[Mapping[str, Any]]],
    connector_id: int,
    start: datetime,
    duration_s: int,
    unit: Literal["A", "W"] | None = None,
    *,
    transaction_start: datetime | None = None,
    transaction_id: int | None = None,
    voltage: float = 230.0,
    default_number_phases: int = 3,
    unconstrained_limit: float | None = None,
) -> dict[str, Any]:
    """GetCompositeSchedule-style ``chargingSchedule`` for ``connector_id`` over
    [start, start + duration_s); startPeriod values are seconds after ``start``.

    See the module docstring for the semantics and for how gaps are represented.
    """
    target, segments = composite_segments(
        profiles_by_connector,
        connector_id,
        start,
        duration_s,
        unit,
        transaction_start=transaction_start,
        transaction_id=transaction_id,
        voltage=voltage,
        default_number_phases=default_number_phases,
    )
    periods: list[dict[str, Any]] = []
    if any(seg.limit is not None for seg in segments):
        for seg in segments:
            if seg.limit is not None:
                periods.append(
                    {
                        "startPeriod": seg.start_s,
                        "limit": seg.limit,
                        "numberPhases": seg.number_phases,
                    }
                )
            else:
                fill = NO_LIMIT if unconstrained_limit is None else unconstrained_limit
                periods.append({"startPeriod": seg.start_s, "limit": fill})
        periods = _merge_periods(periods)
    return {
        "duration": duration_s,
        "startSchedule": format_ocpp_datetime(start),
        "chargingRateUnit": target,
        "chargingSchedulePeriod": periods,
    }


def _merge_periods(periods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A filled gap can equal its neighbour (same limit, phases absent vs given), so merge again.
    merged: list[dict[str, Any]] = []
    for period in periods:
        if merged and (merged[-1]["limit"], merged[-1].get("numberPhases")) == (
            period["limit"],
            period.get("numberPhases"),
        ):
            continue
        merged.append(period)
    return merged


def schedule_limit_at(
    schedule: Mapping[str, Any], offset_s: float
) -> tuple[float | None, int | None]:
    """(limit, numberPhases) a schedule dict prescribes ``offset_s`` seconds after its start.

    (None, None) before the first period, at/after ``duration`` and for ``NO_LIMIT`` periods.
    """
    duration = schedule.get("duration")
    if offset_s < 0 or (duration is not None and offset_s >= duration):
        return None, None
    current: tuple[float | None, int | None] = (None, None)
    for period in sorted(
        schedule.get("chargingSchedulePeriod", ()), key=lambda p: p["startPeriod"]
    ):
        if period["startPeriod"] > offset_s:
            break
        limit = float(period["limit"])
        current = (None, None) if limit < 0 else (limit, period.get("numberPhases"))
    return current


def compare_schedules(
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    *,
    their_start: datetime | None = None,
    voltage: float = 230.0,
    default_number_phases: int = 3,
    tolerance: float = 0.05,
    unconstrained_limit: float | None = None,
) -> list[str]:
    """Differences between our composite and a station's GetCompositeSchedule.conf schedule.

    ``their_start`` is the conf's ``scheduleStart`` (the errata tell stations to omit
    startSchedule inside the schedule); falling back to their startSchedule, then to ours.
    Intervals where we expect no limit (gaps) are skipped unless ``unconstrained_limit`` is
    given, because there the station legitimately reports its own maximum. Limits in another
    unit are converted (per period phases, default 3) before comparing; ``tolerance`` absorbs
    rounding of converted values. Empty list = the schedules agree.
    """
    diffs: list[str] = []
    our_unit = ours.get("chargingRateUnit")
    their_unit = theirs.get("chargingRateUnit")
    if our_unit != their_unit:
        diffs.append(f"chargingRateUnit: ours {our_unit}, theirs {their_unit}")
    our_duration = int(ours.get("duration") or 0)
    their_duration = int(
        theirs.get("duration") if theirs.get("duration") is not None else our_duration
    )
    if our_duration != their_duration:
        diffs.append(f"duration: ours {our_duration} s, theirs {their_duration} s")

    our_start = optional_datetime(ours, "startSchedule")
    if their_start is None and "startSchedule" in theirs:
        their_start = parse_ocpp_datetime(theirs["startSchedule"])
    shift = 0.0  # their offset = our offset - shift
    if our_start is not None and their_start is not None:
        shift = (their_start - our_start).total_seconds()
        if shift:
            diffs.append(f"schedule start differs by {shift:g} s (theirs later if positive)")

    points = {0.0}
    points.update(float(p["startPeriod"]) for p in ours.get("chargingSchedulePeriod", ()))
    points.update(float(p["startPeriod"]) + shift for p in theirs.get("chargingSchedulePeriod", ()))
    horizon = min(our_duration, their_duration + shift)
    cuts = sorted(p for p in points if 0 <= p < horizon)
    for index, at in enumerate(cuts):
        until = cuts[index + 1] if index + 1 < len(cuts) else horizon
        our_limit, our_phases = schedule_limit_at(ours, at)
        if our_limit is None:
            if unconstrained_limit is None:
                continue  # a gap: the station reports its own maximum here
            our_limit, our_phases = unconstrained_limit, None
        their_limit, their_phases = schedule_limit_at(theirs, at - shift)
        where = f"[{at:g} s, {until:g} s)"
        if their_limit is None:
            diffs.append(f"{where}: ours {our_limit} {our_unit}, theirs no limit")
            continue
        their_n = their_phases or default_number_phases
        if their_unit != our_unit and their_unit in ("A", "W") and our_unit in ("A", "W"):
            their_limit = _convert(their_limit, their_unit, our_unit, their_n, voltage)
        if abs(our_limit - their_limit) > tolerance:
            diffs.append(
                f"{where}: limit ours {our_limit} {our_unit}, theirs {their_limit} {our_unit}"
            )
        our_n = our_phases or default_number_phases
        if our_phases is not None and our_n != their_n:
            diffs.append(f"{where}: numberPhases ours {our_n}, theirs {their_n}")
    return diffs
