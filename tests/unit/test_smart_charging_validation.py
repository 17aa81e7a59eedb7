"""Tests for watthub.smart_charging.validation and timefmt."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watthub.smart_charging import format_ocpp_datetime, parse_ocpp_datetime, validate_profile


def tx_default(**overrides: Any) -> dict[str, Any]:
    """TC_056-style TxDefaultProfile (6 A, Absolute, validFrom/validTo present)."""
    profile: dict[str, Any] = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": "2026-01-01T00:00:00.000Z",
        "validTo": "2026-12-31T00:00:00.000Z",
        "chargingSchedule": {
            "duration": 3600,
            "startSchedule": "2026-01-01T00:00:00.000Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}],
        },
    }
    profile.update(overrides)
    return profile


def with_schedule(profile: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(profile)
    for key, value in changes.items():
        if value is None:
            result["chargingSchedule"].pop(key, None)
        else:
            result["chargingSchedule"][key] = value
    return result


def reasons_for(profile: dict[str, Any], **kwargs: Any) -> list[str]:
    kwargs.setdefault("connector_id", 1)
    kwargs.setdefault("context", "set")
    return validate_profile(profile, **kwargs)


# --- timefmt ------------------------------------------------------------------------------


def test_format_is_utc_milliseconds_with_z() -> None:
    dt = datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC)
    assert format_ocpp_datetime(dt) == "2026-03-04T05:06:07.891Z"


def test_format_converts_other_offsets_to_utc() -> None:
    dt = datetime(2026, 3, 4, 7, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_ocpp_datetime(dt) == "2026-03-04T05:00:00.000Z"


def test_format_rejects_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_ocpp_datetime(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-04T05:06:07Z",
        "2026-03-04T05:06:07.000Z",
        "2026-03-04T05:06:07+00:00",
        "2026-03-04T07:06:07+02:00",
        "2026-03-04T05:06:07",
    ],
)
def test_parse_variants(text: str) -> None:
    parsed = parse_ocpp_datetime(text)
    assert parsed == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("bad", ["", "yesterday", "2026-13-01T00:00:00Z"])
def test_parse_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_ocpp_datetime(bad)


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    )
)
def test_roundtrip_to_millisecond(dt: datetime) -> None:
    back = parse_ocpp_datetime(format_ocpp_datetime(dt))
    assert back == dt.replace(microsecond=dt.microsecond // 1000 * 1000)


# --- validation: valid profiles ---------------------------------------------------------------


def test_tc056_tx_default_profile_is_valid() -> None:
    assert reasons_for(tx_default()) == []
    assert reasons_for(tx_default(), connector_id=0) == []


def test_tc057_tx_profile_with_active_transaction_is_valid() -> None:
    profile = tx_default(chargingProfilePurpose="TxProfile", transactionId=42)
    assert reasons_for(profile, connector_has_active_tx=True) == []
    # Unknown transaction state: not flagged.
    assert reasons_for(profile, connector_has_active_tx=None) == []


def test_relative_and_recurring_valid() -> None:
    relative = with_schedule(tx_default(chargingProfileKind="Relative"), startSchedule=None)
    assert reasons_for(relative) == []
    recurring = tx_default(chargingProfileKind="Recurring", recurrencyKind="Weekly")
    assert reasons_for(recurring) == []


def test_tc059_remote_start_profile_is_valid() -> None:
    profile = tx_default(chargingProfilePurpose="TxProfile")
    assert reasons_for(profile, context="remote_start") == []
    assert reasons_for(profile, context="remote_start", connector_id=0) == []


def test_watts_and_omitted_optional_fields_are_valid() -> None:
    profile = with_schedule(
        tx_default(),
        chargingRateUnit="W",
        duration=None,
        chargingSchedulePeriod=[
            {"startPeriod": 0, "limit": 6000.0},
            {"startPeriod": 60, "limit": 0, "numberPhases": 1},
        ],
        minChargingRate=1.5,
    )
    del profile["validFrom"], profile["validTo"]
    assert reasons_for(profile) == []


# --- validation: each rule --------------------------------------------------------------------


def assert_one_reason(reasons: list[str], fragment: str) -> None:
    assert len(reasons) == 1, reasons
    assert fragment in reasons[0]


def test_first_start_period_must_be_zero() -> None:
    profile = with_schedule(tx_default(), chargingSchedulePeriod=[{"startPeriod": 5, "limit": 6.0}])
    assert_one_reason(reasons_for(profile), "first startPeriod must be 0")


@pytest.mark.parametrize("second", [0, -1])
def test_start_periods_strictly_increasing(second: int) -> None:
    periods = [{"startPeriod": 0, "limit": 6.0}, {"startPeriod": second, "limit": 8.0}]
    reasons = reasons_for(with_schedule(tx_default(), chargingSchedulePeriod=periods))
    assert reasons and all("startPeriod" in r for r in reasons)


def test_start_periods_unsorted() -> None:
    periods = [
        {"startPeriod": 0, "limit": 6.0},
        {"startPeriod": 600, "limit": 8.0},
        {"startPeriod": 300, "limit": 7.0},
    ]
    reasons = reasons_for(with_schedule(tx_default(), chargingSchedulePeriod=periods))
    assert_one_reason(reasons, "strictly increase (300 after 600)")


@pytest.mark.parametrize("limit", [6.05, 0.123, 16.01])
def test_limit_one_decimal(limit: float) -> None:
    periods = [{"startPeriod": 0, "limit": limit}]
    reasons = reasons_for(with_schedule(tx_default(), chargingSchedulePeriod=periods))
    assert_one_reason(reasons, "more than one decimal")


@pytest.mark.parametrize("limit", [0.1, 0.3, 6.7, 32, 11040.5, 0.0])
def test_limit_one_decimal_accepts_tenths(limit: float) -> None:
    periods = [{"startPeriod": 0, "limit": limit}]
    assert reasons_for(with_schedule(tx_default(), chargingSchedulePeriod=periods)) == []


def test_limit_non_negative_and_required() -> None:
    negative = with_schedule(tx_default(), chargingSchedulePeriod=[{"startPeriod": 0, "limit": -1}])
    assert_one_reason(reasons_for(negative), "limit must be >= 0")
    missing = with_schedule(tx_default(), chargingSchedulePeriod=[{"startPeriod": 0}])
    assert_one_reason(reasons_for(missing), "limit is required")
    boolean_limit = [{"startPeriod": 0, "limit": True}]
    boolean = with_schedule(tx_default(), chargingSchedulePeriod=boolean_limit)
    assert_one_reason(reasons_for(boolean), "limit is required")


def test_empty_periods() -> None:
    reasons = reasons_for(with_schedule(tx_default(), chargingSchedulePeriod=[]))
    assert_one_reason(reasons, "non-empty")


def test_absolute_needs_start_schedule() -> None:
    reasons = reasons_for(with_schedule(tx_default(), startSchedule=None))
    assert_one_reason(reasons, "startSchedule is required for a Absolute")


def test_recurring_needs_start_schedule() -> None:
    profile = with_schedule(
        tx_default(chargingProfileKind="Recurring", recurrencyKind="Daily"), startSchedule=None
    )
    assert_one_reason(reasons_for(profile), "startSchedule is required for a Recurring")


def test_relative_must_not_have_start_schedule() -> None:
    reasons = reasons_for(tx_default(chargingProfileKind="Relative"))
    assert_one_reason(reasons, "omitted for a Relative")


def test_recurrency_kind_only_with_recurring() -> None:
    reasons = reasons_for(tx_default(recurrencyKind="Daily"))
    assert_one_reason(reasons, "only allowed for a Recurring")


def test_recurring_needs_recurrency_kind() -> None:
    reasons = reasons_for(tx_default(chargingProfileKind="Recurring"))
    assert_one_reason(reasons, "recurrencyKind is required")


def test_recurrency_kind_enum() -> None:
    reasons = reasons_for(tx_default(chargingProfileKind="Recurring", recurrencyKind="Monthly"))
    assert_one_reason(reasons, "Daily or Weekly")


def test_charge_point_max_only_on_connector_zero() -> None:
    profile = tx_default(chargingProfilePurpose="ChargePointMaxProfile")
    assert reasons_for(profile, connector_id=0) == []
    assert_one_reason(reasons_for(profile, connector_id=2), "only be set on connectorId 0")


def test_tx_profile_not_on_connector_zero() -> None:
    profile = tx_default(chargingProfilePurpose="TxProfile")
    assert_one_reason(reasons_for(profile, connector_id=0), "connectorId > 0")


def test_tx_profile_needs_active_transaction() -> None:
    profile = tx_default(chargingProfilePurpose="TxProfile", transactionId=7)
    reasons = reasons_for(profile, connector_id=2, connector_has_active_tx=False)
    assert_one_reason(reasons, "active transaction on connector 2")


def test_remote_start_needs_tx_profile_without_transaction_id() -> None:
    assert_one_reason(reasons_for(tx_default(), context="remote_start"), "needs a TxProfile")
    profile = tx_default(chargingProfilePurpose="TxProfile", transactionId=5)
    assert_one_reason(reasons_for(profile, context="remote_start"), "must not carry")


def test_transaction_id_only_for_tx_profile() -> None:
    assert_one_reason(reasons_for(tx_default(transactionId=3)), "only allowed for a TxProfile")


@pytest.mark.parametrize("phases", [0, 4, -1, "3"])
def test_number_phases_range(phases: Any) -> None:
    periods = [{"startPeriod": 0, "limit": 6.0, "numberPhases": phases}]
    reasons = reasons_for(with_schedule(tx_default(), chargingSchedulePeriod=periods))
    assert_one_reason(reasons, "numberPhases must be 1, 2 or 3")


@pytest.mark.parametrize("valid_to", ["2026-01-01T00:00:00Z", "2025-06-01T00:00:00Z"])
def test_valid_from_before_valid_to(valid_to: str) -> None:
    assert_one_reason(reasons_for(tx_default(validTo=valid_to)), "validFrom must be before")


def test_bad_timestamps() -> None:
    assert_one_reason(reasons_for(tx_default(validFrom="soon")), "validFrom is not an ISO 8601")
    bad_start = with_schedule(tx_default(), startSchedule="noon")
    assert_one_reason(reasons_for(bad_start), "startSchedule is not an ISO 8601")


@pytest.mark.parametrize("duration", [-1, 1.5])
def test_duration_non_negative_integer(duration: Any) -> None:
    reasons = reasons_for(with_schedule(tx_default(), duration=duration))
    assert_one_reason(reasons, "duration must be an integer >= 0")


@pytest.mark.parametrize("unit", ["kW", "a", None])
def test_charging_rate_unit(unit: Any) -> None:
    profile = tx_default()
    profile["chargingSchedule"]["chargingRateUnit"] = unit
    assert_one_reason(reasons_for(profile), "chargingRateUnit must be 'A' or 'W'")


def test_missing_and_unknown_fields() -> None:
    profile = tx_default(extra=1)
    del profile["stackLevel"]
    reasons = reasons_for(profile)
    assert any("unknown field(s): extra" in r for r in reasons)
    assert any("stackLevel is required" in r for r in reasons)
    assert reasons_for({"chargingProfileId": 1}) != []
    assert validate_profile([], connector_id=1, context="set") == [  # type: ignore[arg-type]
        "charging profile must be an object"
    ]


def test_several_problems_are_all_reported() -> None:
    profile = with_schedule(
        tx_default(chargingProfilePurpose="ChargePointMaxProfile", recurrencyKind="Daily"),
        chargingRateUnit="kW",
        chargingSchedulePeriod=[{"startPeriod": 10, "limit": 1.25, "numberPhases": 5}],
    )
    reasons = reasons_for(profile, connector_id=1)
    assert len(reasons) == 6, reasons
