"""MINIMAL stand-ins for the Firmware Management notifications, only so a triggered
DiagnosticsStatusNotification / FirmwareStatusNotification is answered (TC_054).

The firmware helper's branch owns the real handlers: drop this module (and its line in
``profiles.py``) when merging it; two ``@on`` for one action would fail at import."""

from __future__ import annotations

from typing import Any

from watthub.domain.context import StationContext
from watthub.domain.registry import HANDLERS, on

if "DiagnosticsStatusNotification" not in HANDLERS:

    @on("DiagnosticsStatusNotification")
    async def diagnostics_status(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
        ctx.log.info("diagnostics status %s", p["status"])
        return {}


if "FirmwareStatusNotification" not in HANDLERS:

    @on("FirmwareStatusNotification")
    async def firmware_status(ctx: StationContext, p: dict[str, Any]) -> dict[str, Any]:
        ctx.log.info("firmware status %s", p["status"])
        return {}
