"""Wires WattHub together: database, writer, OCPP endpoint, operator API and background jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.config import Settings
from watthub.domain.context import Services
from watthub.domain.events import EventBus
from watthub.domain.profiles import load_profiles
from watthub.gateway import LocalGateway
from watthub.ocppj import schemas
from watthub.server.registry import SessionRegistry
from watthub.server.ws_server import OcppServer
from watthub.storage import db, messages_repo
from watthub.storage.writer import BatchWriter

log = logging.getLogger("watthub")

# The station messages of a normal day, compiled up front so the first boot is not slower.
_HOT_ACTIONS = [
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "MeterValues",
]


class NotMigrated(RuntimeError):
    pass


@dataclass
class WattHub:
    settings: Settings
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    services: Services = field(init=False)
    registry: SessionRegistry = field(init=False)
    ocpp: OcppServer = field(init=False)
    _api_server: uvicorn.Server | None = field(init=False, default=None)
    _api_task: asyncio.Task[None] | None = field(init=False, default=None)
    _jobs: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    api_port: int = field(init=False, default=0)

    async def start(
        self,
        *,
        ocpp_sock: socket.socket | None = None,
        api_sock: socket.socket | None = None,
        ssl_context: ssl.SSLContext | None = None,
        with_api: bool = True,
    ) -> None:
        load_profiles()
        s = self.settings
        engine = db.create_engine(s.database_url)
        if s.auto_migrate:
            await db.upgrade(engine, s.database_url)
        else:
            ok, current, head = await db.is_up_to_date(engine, s.database_url)
            if not ok:
                await engine.dispose()
                raise NotMigrated(
                    f"The database is at revision {current or 'none'}, WattHub needs {head}. "
                    "Run `watthub db upgrade` (or start with --migrate / WATTHUB_AUTO_MIGRATE=true)."
                )
        writer = BatchWriter(engine, s.write_batch_max)
        writer.start()
        self.registry = SessionRegistry()
        gateway = LocalGateway(self.registry, s.call_timeout)
        self.services = Services(s, engine, writer, gateway, EventBus())
        schemas.warm_up(_HOT_ACTIONS)
        self.ocpp = OcppServer(self.services, self.registry, self.node_id)
        await self.ocpp.start(sock=ocpp_sock, ssl_context=ssl_context)
        if with_api:
            await self._start_api(api_sock)
        self._jobs.append(asyncio.create_task(self._periodic_last_seen()))
        self._jobs.append(asyncio.create_task(self._periodic_purge()))

    async def _start_api(self, sock: socket.socket | None) -> None:
        from watthub.api.app import create_api

        app = create_api(self)
        config = uvicorn.Config(
            app,
            host=self.settings.api_host,
            port=self.settings.api_port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.settings.api_host, self.settings.api_port))
        self.api_port = sock.getsockname()[1]
        self._api_server = server
        self._api_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._api_task.done():
                self._api_task.result()
            await asyncio.sleep(0.01)

    async def _periodic_last_seen(self) -> None:
        while True:
            await asyncio.sleep(30)
            await self.ocpp.flush_last_seen()

    async def _periodic_purge(self) -> None:
        days = self.settings.message_log_retention_days
        while True:
            try:

                async def op(conn: AsyncConnection) -> None:
                    removed = await messages_repo.purge_messages(conn, days)
                    if removed:
                        log.info(
                            "message log: removed %d entries older than %d days", removed, days
                        )

                self.services.writer.post(op)
            except Exception:
                log.exception("message log purge failed")
            await asyncio.sleep(3600)

    async def stop(self) -> None:
        for job in self._jobs:
            job.cancel()
        for job in self._jobs:
            with contextlib.suppress(asyncio.CancelledError):
                await job
        if self._api_server is not None and self._api_task is not None:
            self._api_server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._api_task
        await self.ocpp.stop()
        await self.services.events.drain()
        await self.ocpp.flush_last_seen()
        await self.services.writer.stop()
        await self.services.engine.dispose()

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "ocpp_url": s.ocpp_url(),
            "api_url": s.api_url(),
            "docs_url": s.api_url().removesuffix("/api/v1") + "/docs",
            "database": s.database_url,
        }
