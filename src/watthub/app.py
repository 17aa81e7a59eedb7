"""Wires WattHub together: database, writer, OCPP endpoint, operator API and background jobs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.aio import stop_task
from watthub.config import Settings
from watthub.domain.accounts import INITIAL_ADMIN, ensure_initial_admin
from watthub.domain.context import Services
from watthub.domain.events import EventBus
from watthub.domain.invalidation import ID_TAGS, STATION_CREDENTIALS, STATIONS, Invalidation
from watthub.domain.leases import LocalLeases
from watthub.domain.profiles import load_profiles
from watthub.domain.registry import STARTUP_HOOKS
from watthub.domain.tag_cache import TagCache
from watthub.files import runtime as files_runtime
from watthub.gateway import LocalGateway
from watthub.logs import throttle
from watthub.observability import collect
from watthub.observability.health import Health, database_check, task_check
from watthub.ocppj import schemas
from watthub.server.credentials import CredentialGuard
from watthub.server.registry import SessionRegistry
from watthub.server.station_cache import StationCache
from watthub.server.ws_server import OcppServer
from watthub.storage import db, messages_repo, users_repo
from watthub.storage.pg_reads import PgReader
from watthub.storage.sqlite_writer import SQLiteBatchConnection, SQLiteReader, sync_sqlite_engine
from watthub.storage.writer import BatchWriter
from watthub.timeutil import utcnow

log = logging.getLogger("watthub")

# The hourly message-log purge deletes this many rows per write, pausing between writes: about
# 9 ms of SQLite work per chunk on the benchmark machine, so the stations' writes never wait long.
PURGE_CHUNK = 1000
PURGE_PAUSE = 0.05

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


class ClusterNeedsPostgres(RuntimeError):
    pass


def _hide_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


@dataclass
class WattHub:
    settings: Settings
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    services: Services = field(init=False)
    registry: SessionRegistry = field(init=False)
    ocpp: OcppServer = field(init=False)
    ocpp_tls: OcppServer | None = field(init=False, default=None)
    _api_server: uvicorn.Server | None = field(init=False, default=None)
    _api_task: asyncio.Task[None] | None = field(init=False, default=None)
    _metrics_server: uvicorn.Server | None = field(init=False, default=None)
    _metrics_task: asyncio.Task[None] | None = field(init=False, default=None)
    metrics_port: int | None = field(init=False, default=None)
    _membership: Any = field(init=False, default=None)
    _jobs: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    api_port: int = field(init=False, default=0)
    _sqlite_reader: SQLiteReader | None = field(init=False, default=None)
    _pg_reader: PgReader | None = field(init=False, default=None)
    # Set when ``redis_url`` is configured (docs/cluster.md); None = one process, no Redis.
    cluster: Any = field(init=False, default=None)
    _tasks: set[asyncio.Task[Any]] = field(init=False, default_factory=set)
    # The generated password of the first admin account, until describe() hands it out once.
    _initial_admin_password: str | None = field(init=False, default=None, repr=False)

    async def start(
        self,
        *,
        ocpp_sock: socket.socket | None = None,
        api_sock: socket.socket | None = None,
        metrics_sock: socket.socket | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tls_sock: socket.socket | None = None,
        with_api: bool = True,
    ) -> None:
        load_profiles()
        s = self.settings
        if s.redis_url and db.is_sqlite(s.database_url):
            raise ClusterNeedsPostgres(
                "A cluster (redis_url set) needs PostgreSQL: every node must share the "
                "database. Use a postgresql+asyncpg:// database_url, or unset redis_url."
            )
        timeouts = db.Timeouts(s.db_connect_timeout, s.db_statement_timeout)
        if s.auto_migrate:
            # A migration may run longer than a statement may at run time: its own engine.
            migrator = db.create_engine(s.database_url, s.sqlite_synchronous)
            try:
                await db.upgrade(migrator, s.database_url)
            finally:
                await migrator.dispose()
        engine = db.create_engine(s.database_url, s.sqlite_synchronous, timeouts)
        if not s.auto_migrate:
            ok, current, head = await db.is_up_to_date(engine, s.database_url)
            if not ok:
                await engine.dispose()
                raise NotMigrated(
                    f"The database is at revision {current or 'none'}, WattHub needs {head}. "
                    "Run `watthub db upgrade` (or start with --migrate / WATTHUB_AUTO_MIGRATE=true)."
                )
        sqlite, self._sqlite_reader = None, None
        if db.is_sqlite(s.database_url):
            sqlite = SQLiteBatchConnection(
                sync_sqlite_engine(s.database_url, s.sqlite_synchronous),
                busy_timeout=s.db_statement_timeout,
            )
            self._sqlite_reader = SQLiteReader(sync_sqlite_engine(s.database_url, "NORMAL"))
            read = self._sqlite_reader.read
        else:
            self._pg_reader = PgReader(engine, wait=s.db_connect_timeout)
            read = self._pg_reader.read
        writer = BatchWriter(
            engine,
            s.write_batch_max,
            sqlite=sqlite,
            write_timeout=s.db_write_timeout,
            commit_interval=s.db_commit_interval,
        )
        writer.start()
        self.registry = SessionRegistry()
        gateway = LocalGateway(self.registry, s.call_timeout)
        self.services = Services(
            s, engine, writer, gateway, EventBus(), TagCache(read, s.tag_cache_ttl), read
        )
        self.services.invalidation = Invalidation()
        writer.on_commit = self.services.metrics.batch_committed
        self.services.health = Health(s.health_check_timeout)
        self.services.health.register("database", database_check(engine))
        self.services.health.register("writer", task_check("writer", lambda: writer.running))
        self.services.invalidation.subscribe(ID_TAGS, self.services.tags.invalidate)
        # Handshakes without a database round trip or an scrypt run per reconnect; both caches
        # are dropped through the one invalidation interface (domain/invalidation.py).
        self.services.station_cache = StationCache(read, s.station_cache_ttl)
        self.services.credentials = CredentialGuard(
            max_waiting=s.password_checks_waiting,
            free_failures=s.wrong_password_free,
            free_failures_per_address=s.wrong_password_free_per_address,
            max_backoff=s.wrong_password_max_backoff,
        )
        for kind in (STATIONS, STATION_CREDENTIALS):
            self.services.invalidation.subscribe(kind, self.services.station_cache.invalidate)
        inv = self.services.invalidation
        inv.subscribe(STATION_CREDENTIALS, self.services.credentials.invalidate)
        self.services.invalidation.subscribe(STATIONS, self._reload_station)
        self.services.leases = LocalLeases()
        if s.redis_url:
            from watthub.cluster import Cluster

            self.cluster = Cluster(self.services, gateway)
            self.node_id = self.cluster.name
            self.services.gateway = self.cluster.gateway
            self.services.leases = self.cluster.leases
            await self.cluster.start()
            self._observe_cluster(self.cluster)
        schemas.warm_up(_HOT_ACTIONS)
        if s.initial_admin:
            self._initial_admin_password = await ensure_initial_admin(self.services)
        # Before the first station connects: features subscribe to events and start their jobs.
        for startup in STARTUP_HOOKS:
            job = await startup(self.services)
            if job is not None:
                self._jobs.append(job)
        self.ocpp = OcppServer(self.services, self.registry, self.node_id, self.cluster)
        if s.plain_listener:
            await self.ocpp.start(sock=ocpp_sock, ssl_context=ssl_context)
        elif ocpp_sock is not None:
            ocpp_sock.close()  # TLS only: no ws:// listener at all
        if s.tls_port is not None or tls_sock is not None:
            # Security profiles 2/3: a second listener with the TLS context (docs/security.md).
            from watthub.domain.pki_store import tls_context

            self.ocpp_tls = OcppServer(self.services, self.registry, self.node_id, self.cluster)
            await self.ocpp_tls.start(
                sock=tls_sock,
                ssl_context=tls_context(s),
                host=s.tls_host or s.ocpp_host,
                port=s.tls_port or 0,
            )
        if with_api:
            await self._start_api(api_sock)
        if s.metrics_port is not None or metrics_sock is not None:
            await self._start_metrics_listener(metrics_sock)
        # The file server (and FTP receiver, campaign runner) is part of WattHub itself, started
        # after the API because it is mounted on the API's port and its URLs need the bound port.
        await files_runtime.start(self)
        self._jobs.append(asyncio.create_task(self._periodic_last_seen()))
        self._jobs.append(asyncio.create_task(self._periodic_purge()))
        self._jobs.append(
            asyncio.create_task(collect.sample_loop_lag(self.services.metrics.loop_lag))
        )

    async def _start_api(self, sock: socket.socket | None) -> None:
        from watthub.api.app import create_api

        s = self.settings
        self._api_server, self._api_task, self.api_port = await _serve_http(
            create_api(self), sock, s.api_host, s.api_port, reuse_port=s.reuse_port
        )

    async def _start_metrics_listener(self, sock: socket.socket | None) -> None:
        """/metrics and /health/* alone on an internal port (docs/cluster.md)."""
        from watthub.api.routes.observability import create_app

        s = self.settings
        self._metrics_server, self._metrics_task, self.metrics_port = await _serve_http(
            create_app(self), sock, s.metrics_host, s.metrics_port or 0
        )

    def _observe_cluster(self, cluster: Any) -> None:
        """Redis in the readiness checks, routed-command latency and membership in /metrics."""
        from watthub.observability.membership import Membership

        redis, metrics = cluster.node.redis, self.services.metrics

        async def redis_answers() -> None:
            await redis.ping()

        self.services.health.register("redis", redis_answers)
        cluster.gateway.on_routed = metrics.routed_command
        self._membership = Membership(
            redis, cluster.node.key("nodes"), cluster.name, self.settings.cluster_lease / 2
        )
        self._membership.start()
        metrics.membership = self._membership.nodes

    async def _periodic_last_seen(self) -> None:
        while True:
            await asyncio.sleep(30)
            await self.ocpp.flush_last_seen()

    def _reload_station(self, station_id: str | None) -> None:
        """A station's settings changed (maybe on another node): reload them into its session."""
        sessions = self.registry.all() if station_id is None else [self.registry.get(station_id)]
        for session in sessions:
            if session is None:
                continue

            async def reload(session: Any = session) -> None:
                # Through the handshake cache (dropped by the same invalidation just before):
                # the reloads of a storm of boots share one query per 500 stations instead of
                # one pooled connection each, which exhausted PostgreSQL's pool and failed
                # handshakes (10,000 auto-registered stations: 446 HTTP 500s).
                try:
                    row = await self.services.station_cache.get(session.station_id)
                except Exception as exc:
                    throttle.log(
                        log, "station-reload", logging.WARNING, "station reload failed: %r", exc
                    )
                    return
                if row is not None:
                    session.ctx.station.update(row)

            task = asyncio.create_task(reload())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def health(self) -> dict[str, Any]:
        """Cluster health for readiness checks: ``redis`` is False when this node cannot reach
        Redis (None on a single node without Redis)."""
        if self.cluster is not None:
            return await self.cluster.health()  # type: ignore[no-any-return]
        from watthub.cluster import single_node_health

        return await single_node_health(self.node_id, len(self.registry))

    async def _periodic_purge(self) -> None:
        while True:
            try:
                if await self.services.leases.claim_period(
                    "message-log-purge", 3000, local_ok=True
                ):
                    await self.purge_message_log()

                    async def op(conn: AsyncConnection) -> None:
                        # Console sessions past their idle or absolute end (docs/security.md).
                        idle = timedelta(seconds=self.settings.session_idle_timeout)
                        await users_repo.purge_expired_sessions(conn, utcnow() - idle)

                    self.services.writer.post(op)
            except Exception:
                log.exception("message log purge failed")
            await asyncio.sleep(3600)

    async def purge_message_log(self, chunk: int = PURGE_CHUNK, pause: float = PURGE_PAUSE) -> int:
        """Remove message-log entries older than ``message_log_retention_days``, at most ``chunk``
        rows per write with ``pause`` s between: the stations' writes go on meanwhile (one delete of an
        hour of a busy network's log held the writer for seconds)."""
        days = self.settings.message_log_retention_days
        cutoff = utcnow() - timedelta(days=days)
        found = await self.services.read(lambda conn: messages_repo.purge_boundary(conn, cutoff))
        removed = 0
        start, last = found if found is not None else (1, 0)
        while start <= last:
            stop = min(last, start + chunk - 1)

            async def delete(conn: AsyncConnection, start: int = start, stop: int = stop) -> int:
                return await messages_repo.purge_chunk(conn, start, stop, cutoff)

            removed += await self.services.writer.run(delete)
            start = stop + 1
            await asyncio.sleep(pause)
        if removed:
            log.info("message log: removed %d entries older than %d days", removed, days)
        return removed

    async def stop(self) -> None:
        # Readiness answers 503 from now on, so a load balancer stops sending stations here.
        self.services.health.draining = True
        for job in self._jobs:
            job.cancel()  # all at once; stop_task then waits for each (bounded)
        for job in self._jobs:
            await stop_task(job)
        await files_runtime.stop(self)
        if self._api_server is not None and self._api_task is not None:
            self._api_server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._api_task
        if self._metrics_server is not None and self._metrics_task is not None:
            self._metrics_server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._metrics_task
        await self.ocpp.stop()
        if self.ocpp_tls is not None:
            await self.ocpp_tls.stop()
        await self.services.events.drain()
        if self._membership is not None:
            await self._membership.stop()  # leave the membership before Redis is closed
        if self.cluster is not None:
            await self.cluster.stop()
        await self.ocpp.flush_last_seen()
        await self.services.writer.stop()
        if self._sqlite_reader is not None:
            self._sqlite_reader.close()
        if self._pg_reader is not None:
            await self._pg_reader.close()
        await self.services.engine.dispose()

    def describe(self) -> dict[str, Any]:
        """Addresses for the start banner. The first call after WattHub created the first
        admin account also carries its password (``initial_admin``); later calls do not."""
        s = self.settings
        password, self._initial_admin_password = self._initial_admin_password, None
        initial = {"username": INITIAL_ADMIN, "password": password} if password else None
        return {
            "initial_admin": initial,
            "ocpp_url": s.ocpp_url() if s.plain_listener else None,
            "ocpp_tls_url": (
                f"wss://{s.public_name()}:{s.tls_port}{s.ocpp_path.rstrip('/')}/{{stationId}}"
                if s.tls_port is not None
                else None
            ),
            "console_url": s.api_url().removesuffix("api/v1"),
            "api_url": s.api_url(),
            "docs_url": s.api_url().removesuffix("/api/v1") + "/docs",
            **files_runtime.describe(self),
            "database": s.database_url,
            "cluster": (
                f"node {self.cluster.name} via {_hide_password(s.redis_url or '')} "
                f"(prefix {s.cluster_prefix})"
                if self.cluster is not None
                else None
            ),
        }


async def _serve_http(
    app: Any, sock: socket.socket | None, host: str, port: int, reuse_port: bool = False
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Serve an ASGI app with uvicorn on ``sock`` (or a new socket on host:port) in this loop;
    returns once it accepts connections, with the bound port."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        # No handlers of uvicorn's own: its lines go through WattHub's (logs.SafeFormatter,
        # which escapes client-supplied control characters).
        log_config=None,
        lifespan="off",
        access_log=False,
        # Longer than clients keep an idle connection (httpx 5 s): with uvicorn's 5 s a request
        # sent as the server closed the idle connection failed with a read error (seen in CI).
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(config)
    # WattHub owns the signals (it stops the OCPP side too); uvicorn must not capture them.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:  # `serve --workers`: every worker accepts on the same API port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    bound = int(sock.getsockname()[1])
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, bound


def tune_gc(threshold: int) -> None:
    """Fewer, cheaper garbage collections on the message path.

    Everything created during start-up (modules, tables, compiled statements, schemas) lives for
    the whole process: ``gc.freeze`` moves it out of the collector's sight, so full collections do
    not traverse it. A higher generation-0 threshold trades a little memory for fewer collections:
    the message path allocates many short-lived objects, almost none of them in reference cycles,
    and profiles showed collection pauses of 58-102 ms at load. ``threshold`` 0 keeps Python's
    defaults. Called by ``watthub serve`` once the hub runs (not by embedders such as the test
    harness, which start many hubs in one process)."""
    gc.collect()
    gc.freeze()
    if threshold > 0:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(threshold, gen1, gen2)
