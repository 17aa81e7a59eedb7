"""Validation of a charging profile before WattHub sends it to a station.

Catching a bad profile here gives the operator a readable reason instead of a bare
``Rejected`` / CALLERROR from the station. Rules follow OCPP 1.6 §3.13, §5.16, §7.8-7.14 and
its errata (SetChargingProfile / RemoteStartTransaction constraints).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from .profiles import (
    CHARGE_POINT_MAX,
    KINDS,
    PURPOSES,
    RATE_UNITS,
    RECURRENCE_SECONDS,
    TX_PROFILE,
)
from .timefmt import parse_ocpp_datetime

__all__ = ["validate_profile"]

_PROFILE_KEYS = frozenset(
    {
        "chargingProfileId",
        "transactionId",
        "stackLevel",
        "chargingProfilePurpose",
        "chargingProfileKind",
        "recurrencyKind",
        "validFrom",
        "validTo",
        "chargingSchedule",
    }
)
_SCHEDULE_KEYS = frozenset(
    {"duration", "startSchedule", "chargingRateUnit", "chargingSchedulePeriod", "minChargingRate"}
)
_PERIOD_KEYS = frozenset({"startPeriod", "limit", "numberPhases"})


def _is_int(value: Any) -> bool:
    # bool is an int subclass in Python but never a valid OCPP integer.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _one_decimal(value: float) -> bool:
    # The schema says multipleOf 0.1; compare with a tolerance because 0.1 is inexact in binary.
    scaled = value * 10
    return abs(scaled - round(scaled)) < 1e-6


def validate_profile(
    profile: Mapping[str, Any],
    *,
    connector_id: int,
    context: Literal["set", "remote_start"],
    connector_has_active_tx: bool | None = None,
) -> list[str]:
    """Return human-readable reasons why ``profile`` would be rejected; empty means valid.

    ``context="set"``: the profile goes into SetChargingProfile.req for ``connector_id``.
    ``connector_has_active_tx``: pass False to flag a TxProfile for an idle connector (the
    station would reject it); None means "unknown" and skips that check.
    ``context="remote_start"``: the profile goes into RemoteStartTransaction.req; pass
    ``connector_id=0`` when the request carries no connectorId.
    """
    if not isinstance(profile, Mapping):
        return ["charging profile must be an object"]
    reasons: list[str] = []
    reasons += _check_header(profile, connector_id, context, connector_has_active_tx)
    reasons += _check_validity(profile)
    schedule = profile.get("chargingSchedule")
    if not isinstance(schedule, Mapping):
        reasons.append("chargingSchedule is required and must be an object")
    else:
        reasons += _check_schedule(schedule, profile.get("chargingProfileKind"))
    return reasons


def _check_header(
    profile: Mapping[str, Any],
    connector_id: int,
    context: str,
    connector_has_active_tx: bool | None,
) -> list[str]:
    reasons: list[str] = []
    unknown = sorted(set(profile) - _PROFILE_KEYS)
    if unknown:
        reasons.append(f"unknown field(s): {', '.join(unknown)}")
    if not _is_int(profile.get("chargingProfileId")):
        reasons.append("chargingProfileId is required and must be an integer")
    stack_level = profile.get("stackLevel")
    if not _is_int(stack_level) or stack_level < 0:
        reasons.append("stackLevel is required and must be an integer >= 0")
    if "transactionId" in profile and not _is_int(profile["transactionId"]):
        reasons.append("transactionId must be an integer")
    if not _is_int(connector_id) or connector_id < 0:
        reasons.append(f"connectorId must be an integer >= 0, got {connector_id!r}")
        connector_id = -1

    purpose = profile.get("chargingProfilePurpose")
    if purpose not in PURPOSES:
        reasons.append(f"chargingProfilePurpose must be one of {sorted(PURPOSES)}, got {purpose!r}")
    elif context == "remote_start":
        # RemoteStartTransaction: the transaction does not exist yet, so it cannot be named.
        if purpose != TX_PROFILE:
            reasons.append(f"RemoteStartTransaction needs a TxProfile, got {purpose}")
        if "transactionId" in profile:
            reasons.append("RemoteStartTransaction profile must not carry a transactionId")
    else:
        if purpose == CHARGE_POINT_MAX and connector_id != 0:
            reasons.append("ChargePointMaxProfile can only be set on connectorId 0")
        if purpose == TX_PROFILE:
            if connector_id == 0:
                reasons.append("TxProfile can only be set on a connectorId > 0")
            elif connector_has_active_tx is False:
                reasons.append(f"TxProfile needs an active transaction on connector {connector_id}")
    if purpose in PURPOSES and purpose != TX_PROFILE and "transactionId" in profile:
        reasons.append("transactionId is only allowed for a TxProfile")

    kind = profile.get("chargingProfileKind")
    recurrency = profile.get("recurrencyKind")
    if kind not in KINDS:
        reasons.append(f"chargingProfileKind must be one of {sorted(KINDS)}, got {kind!r}")
    elif kind == "Recurring" and recurrency is None:
        reasons.append("recurrencyKind is required for a Recurring profile")
    elif kind != "Recurring" and recurrency is not None:
        reasons.append(f"recurrencyKind is only allowed for a Recurring profile, not {kind}")
    if recurrency is not None and recurrency not in RECURRENCE_SECONDS:
        reasons.append(f"recurrencyKind must be Daily or Weekly, got {recurrency!r}")
    return reasons


def _check_validity(profile: Mapping[str, Any]) -> list[str]:
    reasons: list[str] = []
    bounds = {}
    for key in ("validFrom", "validTo"):
        if key in profile:
            try:
                bounds[key] = parse_ocpp_datetime(profile[key])
            except (TypeError, ValueError):
                reasons.append(f"{key} is not an ISO 8601 timestamp: {profile[key]!r}")
    if len(bounds) == 2 and not bounds["validFrom"] < bounds["validTo"]:
        reasons.append("validFrom must be before validTo")
    return reasons


def _check_schedule(schedule: Mapping[str, Any], kind: Any) -> list[str]:
    reasons: list[str] = []
    unknown = sorted(set(schedule) - _SCHEDULE_KEYS)
    if unknown:
        reasons.append(f"unknown chargingSchedule field(s): {', '.join(unknown)}")
    unit = schedule.get("chargingRateUnit")
    if unit not in RATE_UNITS:
        reasons.append(f"chargingRateUnit must be 'A' or 'W', got {unit!r}")
    if "duration" in schedule:
        duration = schedule["duration"]
        if not _is_int(duration) or duration < 0:
            reasons.append(f"duration must be an integer >= 0, got {duration!r}")
    if "minChargingRate" in schedule:
        rate = schedule["minChargingRate"]
        if not _is_number(rate) or rate < 0 or not _one_decimal(rate):
            reasons.append(f"minChargingRate must be >= 0 with one decimal at most, got {rate!r}")

    has_start = "startSchedule" in schedule
    if has_start:
        try:
            parse_ocpp_datetime(schedule["startSchedule"])
        except (TypeError, ValueError):
            value = schedule["startSchedule"]
            reasons.append(f"startSchedule is not an ISO 8601 timestamp: {value!r}")
    if kind in ("Absolute", "Recurring") and not has_start:
        reasons.append(f"startSchedule is required for a {kind} profile")
    if kind == "Relative" and has_start:
        reasons.append("startSchedule must be omitted for a Relative profile")

    reasons += _check_periods(schedule.get("chargingSchedulePeriod"))
    return reasons


def _check_periods(periods: Any) -> list[str]:
    if not isinstance(periods, list) or not periods:
        return ["chargingSchedulePeriod must be a non-empty list"]
    reasons: list[str] = []
    previous: int | None = None
    for index, period in enumerate(periods):
        where = f"chargingSchedulePeriod[{index}]"
        if not isinstance(period, Mapping):
            reasons.append(f"{where} must be an object")
            continue
        unknown = sorted(set(period) - _PERIOD_KEYS)
        if unknown:
            reasons.append(f"{where}: unknown field(s): {', '.join(unknown)}")
        start = period.get("startPeriod")
        if not _is_int(start) or start < 0:
            reasons.append(f"{where}.startPeriod must be an integer >= 0, got {start!r}")
        else:
            if index == 0 and start != 0:
                reasons.append(f"the first startPeriod must be 0, got {start}")
            if previous is not None and start <= previous:
                reasons.append(
                    f"startPeriod values must strictly increase ({start} after {previous})"
                )
            previous = start
        limit = period.get("limit")
        if not _is_number(limit):
            reasons.append(f"{where}.limit is required and must be a number")
        else:
            if limit < 0:
                reasons.append(f"{where}.limit must be >= 0, got {limit}")
            if not _one_decimal(limit):
                reasons.append(f"{where}.limit has more than one decimal place: {limit}")
        if "numberPhases" in period:
            phases = period["numberPhases"]
            if not _is_int(phases) or not 1 <= phases <= 3:
                reasons.append(f"{where}.numberPhases must be 1, 2 or 3, got {phases!r}")
    return reasons
