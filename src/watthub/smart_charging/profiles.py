"""Shared vocabulary for OCPP 1.6 charging profiles (plain dicts in the wire's camelCase shape).

Kept tiny and dependency-free so validation, the installed-profile model and the composite
calculation agree on the same constants and helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

from .timefmt import parse_ocpp_datetime

__all__ = [
    "CHARGE_POINT_MAX",
    "KINDS",
    "PURPOSES",
    "RATE_UNITS",
    "RECURRENCE_SECONDS",
    "TX_DEFAULT",
    "TX_PROFILE",
    "ChargingProfile",
    "RateUnit",
    "optional_datetime",
]

# A charging profile exactly as in SetChargingProfile.req's ``csChargingProfiles``.
ChargingProfile = Mapping[str, Any]
RateUnit = Literal["A", "W"]

CHARGE_POINT_MAX: Final = "ChargePointMaxProfile"
TX_DEFAULT: Final = "TxDefaultProfile"
TX_PROFILE: Final = "TxProfile"
PURPOSES: Final = frozenset({CHARGE_POINT_MAX, TX_DEFAULT, TX_PROFILE})
KINDS: Final = frozenset({"Absolute", "Recurring", "Relative"})
RATE_UNITS: Final = frozenset({"A", "W"})
RECURRENCE_SECONDS: Final[Mapping[str, int]] = {"Daily": 86_400, "Weekly": 7 * 86_400}


def optional_datetime(mapping: Mapping[str, Any], key: str) -> datetime | None:
    """``mapping[key]`` parsed as an OCPP timestamp, or None when absent."""
    value = mapping.get(key)
    return None if value is None else parse_ocpp_datetime(value)
