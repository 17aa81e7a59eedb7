"""Pure smart-charging core: profile validation, installed-profile bookkeeping and the
OCPP 1.6 composite schedule. No I/O, no database, no asyncio — callers feed it plain dicts."""

from .composite import (
    NO_LIMIT,
    Segment,
    compare_schedules,
    composite_schedule,
    composite_segments,
    schedule_limit_at,
)
from .installed import InstalledProfile, InstalledProfiles
from .timefmt import format_ocpp_datetime, parse_ocpp_datetime
from .validation import validate_profile

__all__ = [
    "NO_LIMIT",
    "InstalledProfile",
    "InstalledProfiles",
    "Segment",
    "compare_schedules",
    "composite_schedule",
    "composite_segments",
    "format_ocpp_datetime",
    "parse_ocpp_datetime",
    "schedule_limit_at",
    "validate_profile",
]
