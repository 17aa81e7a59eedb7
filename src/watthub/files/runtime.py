"""The Firmware Management runtime that lives as long as WattHub: the file server's public base
URL, the FTP receiver (when enabled) and the firmware campaign runner.

It is an explicit part of :class:`watthub.app.WattHub`: ``start`` calls :func:`start` after the
API is up (the file server is mounted on the API's FastAPI app, so the bound port is known) and
``stop`` calls :func:`stop` before the writer stops. Its event subscriptions live in
``domain/firmware.py`` (``@on_startup``), like every other feature's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain.context import Services
from watthub.files import store
from watthub.files.ftp import FtpAccount, FtpReceiver
from watthub.storage import firmware_repo
from watthub.timeutil import utcnow

if TYPE_CHECKING:
    from watthub.app import WattHub
    from watthub.domain.firmware_campaigns import CampaignRunner

log = logging.getLogger("watthub.files")

# A diagnostics upload location (HTTP or FTP account) is honoured this long after the request.
UPLOAD_WINDOW = timedelta(days=7)
FEATURE_KEY = "firmware"


@dataclass
class FirmwareRuntime:
    services: Services
    base_url: str
    data_dir: Path
    ftp: FtpReceiver | None = None
    ftp_public_host: str = ""
    runner: CampaignRunner | None = None
    uploads: store.UploadQuotas | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def quotas(self) -> store.UploadQuotas:
        if self.uploads is None:
            s = self.services.settings
            self.uploads = store.UploadQuotas(
                s.upload_location_max_files, s.upload_location_max_bytes
            )
        return self.uploads

    def firmware_url(self, image: dict[str, Any]) -> str:
        return f"{self.base_url}/files/firmware/{image['token']}/{quote(image['filename'])}"

    def firmware_token_from(self, location: str) -> str | None:
        prefix = f"{self.base_url}/files/firmware/"
        if not location.startswith(prefix):
            return None
        return location[len(prefix) :].split("/", 1)[0] or None

    def upload_url(self, token: str) -> str:
        return f"{self.base_url}/files/upload/{token}/"

    def ftp_location(self, user: str, password: str) -> str:
        assert self.ftp is not None
        return f"ftp://{user}:{password}@{self.ftp_public_host}:{self.ftp.port}/"

    def wake_campaigns(self) -> None:
        if self.runner is not None:
            self.runner.wake()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def record_diagnostics_file(
        self,
        station_id: str,
        request_id: int | None,
        path: Path,
        transport: str,
        checksum: tuple[str, int] | None = None,
    ) -> dict[str, Any]:
        """List a received file for the station (``checksum``: (sha256, size) when the receiver
        computed it while the file arrived; else it is computed from the file)."""
        sha256, size = checksum or await asyncio.to_thread(store.sha256_file, path)
        relative = path.relative_to(self.data_dir)

        async def op(conn: AsyncConnection) -> dict[str, Any]:
            return await firmware_repo.insert_diagnostics_file(
                conn,
                station_id=station_id,
                request_id=request_id,
                filename=path.name,
                path=relative.as_posix(),
                size=size,
                sha256=sha256,
                transport=transport,
            )

        row = await self.services.writer.run(op)
        log.info("diagnostics file %s from %s received via %s", path.name, station_id, transport)
        return row

    def _ftp_file(self, account: FtpAccount, path: Path) -> None:
        self.spawn(
            self.record_diagnostics_file(account.station_id, account.request_id, path, "ftp")
        )

    async def restore_ftp_accounts(self) -> None:
        """FTP accounts of recent requests survive a restart of WattHub."""
        assert self.ftp is not None
        async with self.services.engine.connect() as conn:
            rows = await firmware_repo.ftp_accounts(conn, utcnow() - UPLOAD_WINDOW)
        for r in rows:
            if r["ftp_user"] and r["ftp_password"] and r["token"]:
                self.ftp.add_account(
                    FtpAccount(
                        r["ftp_user"],
                        r["ftp_password"],
                        r["station_id"],
                        r["id"],
                        self.data_dir / store.diagnostics_dir(r["station_id"], r["token"]),
                    )
                )


def runtime(services: Services) -> FirmwareRuntime:
    found = services.features.get(FEATURE_KEY)
    if found is None:
        raise RuntimeError("the firmware runtime is not started")
    return found  # type: ignore[no-any-return]


async def start(hub: WattHub) -> None:
    from watthub.domain.firmware_campaigns import CampaignRunner

    s = hub.settings
    services = hub.services
    data_dir = await asyncio.to_thread(Path(s.data_dir).resolve)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    rt = FirmwareRuntime(
        services,
        base_url=s.files_url(hub.api_port or None),
        data_dir=data_dir,
        ftp_public_host=s.public_host or s.ftp_host or s.api_host,
    )
    services.features[FEATURE_KEY] = rt
    if s.ftp_enabled:
        rt.ftp = FtpReceiver(
            s.ftp_host or s.api_host,
            s.ftp_port,
            rt._ftp_file,
            passive_ports=s.ftp_passive_ports,
            masquerade_address=s.ftp_masquerade_address,
            max_files=s.upload_location_max_files,
            max_bytes=s.upload_location_max_bytes,
        )
        rt.ftp.start()
        await rt.restore_ftp_accounts()
    rt.runner = CampaignRunner(services)
    rt.runner.start()


def describe(hub: WattHub) -> dict[str, str | None]:
    """The file server's base URL and the FTP receiver's address (None when off), as stations
    are told them; before start, what the settings say."""
    rt: FirmwareRuntime | None = hub.services.features.get(FEATURE_KEY) if _started(hub) else None
    s = hub.settings
    files_url = rt.base_url if rt is not None else s.files_url(hub.api_port or None)
    ftp_url = None
    if rt is not None and rt.ftp is not None:
        ftp_url = f"ftp://{rt.ftp_public_host}:{rt.ftp.port}/"
    elif rt is None and s.ftp_enabled:
        ftp_url = f"ftp://{s.public_host or s.ftp_host or s.api_host}:{s.ftp_port}/"
    return {"files_url": files_url + "/files/", "ftp_url": ftp_url}


def _started(hub: WattHub) -> bool:
    return getattr(hub, "services", None) is not None


async def stop(hub: WattHub) -> None:
    rt = hub.services.features.pop(FEATURE_KEY, None)
    if rt is None:
        return
    if rt.runner is not None:
        await rt.runner.stop()
    if rt.ftp is not None:
        await rt.ftp.stop()
    for task in list(rt._tasks):
        with contextlib.suppress(Exception):
            await task
