"""Firmware campaigns: roll one firmware out to many stations, at most ``concurrency`` at a time.

Per station: scheduled → sent (UpdateFirmware answered) → downloading → downloaded → installing
→ installed, or failed (DownloadFailed / InstallationFailed, the command could not be delivered,
or no progress within ``station_timeout``). The states follow the station's
FirmwareStatusNotifications (``firmware_repo.record_status``) and, when the campaign names an
expected version, the version the station reports at its next boot.

One runner task per WattHub process; it wakes on every relevant notification and every few
seconds (for time-outs and stations that were busy)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain.commands import CommandError, send_command
from watthub.domain.context import Services
from watthub.gateway import StationCallError, StationNotConnected, StationTimeout
from watthub.storage import firmware_repo
from watthub.timeutil import as_utc, format_ts, now_ts, utcnow

log = logging.getLogger("watthub.campaigns")

TICK_SECONDS = 2.0


class CampaignRunner:
    def __init__(self, services: Services, tick: float = TICK_SECONDS) -> None:
        self._services = services
        self._tick = tick
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="watthub-campaigns")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.advance_all()
            except Exception:
                log.exception("campaign runner pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._tick)

    async def advance_all(self) -> None:
        # One runner pass at a time cluster-wide: two nodes advancing the same campaign would
        # send UpdateFirmware twice. Paused while Redis is unreachable (docs/cluster.md).
        async with self._services.leases.held("firmware-campaigns") as mine:
            if not mine:
                return
            async with self._services.engine.connect() as conn:
                campaigns = await firmware_repo.list_campaigns(conn, status="running")
            for campaign in campaigns:
                await self._advance(campaign)

    async def _write(self, op: Any) -> Any:
        return await self._services.writer.run(op)

    async def _advance(self, campaign: dict[str, Any]) -> None:
        cid = campaign["id"]
        async with self._services.engine.connect() as conn:
            entries = await firmware_repo.campaign_stations(conn, cid)
        now = utcnow()
        deadline = timedelta(seconds=campaign["station_timeout"])
        in_flight = 0
        for e in entries:
            if e["state"] not in firmware_repo.IN_FLIGHT:
                continue
            updated = as_utc(e["updated_at"]) or now
            if now - updated > deadline:
                await self._set(cid, e["station_id"], "failed", f"no progress for {deadline}")
            else:
                in_flight += 1
        scheduled = [e for e in entries if e["state"] == "scheduled"]
        batch = scheduled[: max(0, campaign["concurrency"] - in_flight)]
        # Marked "sent" before sending: the station may report Downloading before we see its
        # UpdateFirmware.conf, and that notification must find the entry in flight.
        for e in batch:
            await self._set(cid, e["station_id"], "sent", "", sent_at=utcnow())
        await asyncio.gather(*(self._send(campaign, e["station_id"]) for e in batch))
        if not batch and in_flight == 0 and not scheduled:
            await self._finish(cid)

    async def _send(self, campaign: dict[str, Any], station_id: str) -> None:
        payload: dict[str, Any] = {
            "location": campaign["location"],
            "retrieveDate": format_ts(as_utc(campaign["retrieve_date"]))  # type: ignore[arg-type]
            if campaign["retrieve_date"]
            else now_ts(),
        }
        if campaign["retries"] is not None:
            payload["retries"] = campaign["retries"]
        if campaign["retry_interval"] is not None:
            payload["retryInterval"] = campaign["retry_interval"]
        problem = None
        try:
            await send_command(self._services, station_id, "UpdateFirmware", payload)
        except CommandError as exc:
            problem = exc.message
        except (StationNotConnected, StationTimeout) as exc:
            problem = str(exc) or type(exc).__name__
        except StationCallError as exc:
            problem = f"CALLERROR {exc.code}: {exc.description}"
        except Exception as exc:  # the campaign must go on whatever one station did
            log.exception("campaign %s: UpdateFirmware to %s", campaign["id"], station_id)
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            log.warning(
                "campaign %s: UpdateFirmware to %s failed: %s", campaign["id"], station_id, problem
            )
            await self._set(campaign["id"], station_id, "failed", problem)
            return

        async def link(conn: AsyncConnection) -> None:
            await firmware_repo.link_latest_update(conn, station_id, campaign["id"])

        await self._write(link)
        self.wake()

    async def _set(self, cid: int, station_id: str, state: str, detail: str, **extra: Any) -> None:
        async def op(conn: AsyncConnection) -> None:
            await firmware_repo.set_campaign_station(
                conn, cid, station_id, state=state, detail=detail, **extra
            )

        await self._write(op)

    async def _finish(self, cid: int) -> None:
        async def op(conn: AsyncConnection) -> None:
            await firmware_repo.set_campaign(conn, cid, status="finished", finished_at=utcnow())

        await self._write(op)
        log.info("campaign %s finished", cid)


async def cancel_campaign(services: Services, campaign_id: int) -> None:
    """Stop sending; stations already updating carry on (an update cannot be called back)."""

    async def op(conn: AsyncConnection) -> None:
        for e in await firmware_repo.campaign_stations(conn, campaign_id):
            if e["state"] == "scheduled":
                await firmware_repo.set_campaign_station(
                    conn,
                    campaign_id,
                    e["station_id"],
                    state="cancelled",
                    detail="campaign cancelled",
                )
        await firmware_repo.set_campaign(
            conn, campaign_id, status="cancelled", finished_at=utcnow()
        )

    await services.writer.run(op)
