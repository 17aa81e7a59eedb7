"""The OCPP-J endpoint ``ws://HOST:PORT/<prefix>/{chargePointId}``.

Everything that can refuse a station happens before the WebSocket upgrade, with a plain HTTP
status: 404 for an unknown path or identity, 401 for bad credentials, 400 when ``ocpp1.6`` is not
offered (TC_088). TLS (security profiles 2/3) plugs in as an ``ssl`` context on the same server."""

from __future__ import annotations

import asyncio
import http
import logging
import socket
import ssl
from typing import Any, Protocol
from urllib.parse import unquote

from websockets.http11 import Request, Response

from watthub.domain import events, station_ids
from watthub.domain.context import Services
from watthub.logs import throttle
from watthub.server.connection_security import check_connection, record_refusal
from watthub.server.message_log import MessageLogger
from watthub.server.registry import SessionRegistry
from watthub.server.session import StationSession
from watthub.server.ws_link import Endpoint, LinkOptions, StationLink, plain_response
from watthub.storage import stations_repo
from watthub.storage.writer import DatabaseUnavailable, is_unavailable
from watthub.timeutil import utcnow

log = logging.getLogger("watthub.ocpp")

SUBPROTOCOL = "ocpp1.6"


def _plain(status: http.HTTPStatus, text: str, extra: dict[str, str] | None = None) -> Response:
    return plain_response(status.value, status.phrase, text, extra)


def _credentials(station: dict[str, Any]) -> tuple[Any, ...]:
    """What a handshake is checked against (``check_connection``)."""
    return (
        station.get("security_profile"),
        station.get("password_hash"),
        station.get("serial_number"),
    )


class ConnectionObserver(Protocol):
    """Told when a station's socket opens and closes (the cluster records ownership)."""

    async def station_connected(self, session: StationSession) -> None: ...

    async def station_disconnected(self, session: StationSession) -> None: ...


class OcppServer:
    def __init__(
        self,
        services: Services,
        registry: SessionRegistry,
        node_id: str,
        observer: ConnectionObserver | None = None,
    ) -> None:
        self.services = services
        self.registry = registry
        self.node_id = node_id
        self.observer = observer
        self.message_log = MessageLogger(services.writer, services.settings.message_log)
        self._prefix = "/" + services.settings.ocpp_path.strip("/")
        self._endpoint: Endpoint | None = None

    async def start(
        self,
        sock: socket.socket | None = None,
        ssl_context: ssl.SSLContext | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        s = self.services.settings
        options = LinkOptions(
            subprotocol=SUBPROTOCOL,
            max_message_size=s.max_frame_size,
            ping_interval=s.ping_interval or None,
            ping_timeout=s.ping_timeout or None,
            # The `websockets` default (10 s) silently dropped stations whose handshake waited in
            # a storm; overload is answered explicitly instead (503 / BootNotification Pending).
            open_timeout=s.ws_open_timeout or None,
        )
        endpoint = Endpoint(options, self._admit, self._handle)
        loop = asyncio.get_running_loop()
        if sock is not None:
            endpoint.server = await loop.create_server(
                endpoint.protocol, sock=sock, ssl=ssl_context, backlog=4096
            )
        else:
            endpoint.server = await loop.create_server(
                endpoint.protocol,
                host or s.ocpp_host,
                s.ocpp_port if port is None else port,
                ssl=ssl_context,
                backlog=4096,
                reuse_port=s.reuse_port or None,
            )
        self._endpoint = endpoint

    @property
    def port(self) -> int:
        if self._endpoint is None or self._endpoint.server is None:
            return 0  # not listening (plain listener switched off)
        return int(next(iter(self._endpoint.server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        if self._endpoint is None:
            return
        await self._endpoint.close()

    def _identity(self, path: str) -> str | None:
        path = path.split("?", 1)[0]
        if not path.startswith(self._prefix + "/"):
            return None
        identity = unquote(path[len(self._prefix) + 1 :])
        if not identity or "/" in identity or len(identity) > 255:
            return None
        return identity

    async def _admit(
        self, request: Request, peer: str | None, ssl_object: Any
    ) -> Response | dict[str, Any]:
        """The station's row if it may connect, else the HTTP refusal."""
        try:
            response = await self._process_request(request, peer, ssl_object)
        except Exception as exc:
            if not (is_unavailable(exc) or isinstance(exc, DatabaseUnavailable)):
                raise
            # The database (or the pool) cannot answer the lookup now: a station that is told
            # when to come back retries; an HTTP 500 reads like a permanent failure.
            throttle.log(
                log, "handshake-db", logging.WARNING, "handshake refused, database busy: %r", exc
            )
            response = _plain(
                http.HTTPStatus.SERVICE_UNAVAILABLE, "Busy, retry later", {"Retry-After": "5"}
            )
        if isinstance(response, Response):
            self.services.metrics.handshake_refused(response.status_code)
        return response

    async def _process_request(
        self, request: Request, peer: str | None, ssl_object: Any
    ) -> Response | dict[str, Any]:
        station_id = self._identity(request.path)
        if station_id is None:
            return _plain(http.HTTPStatus.NOT_FOUND, "Not an OCPP endpoint")
        invalid = station_ids.problem(station_id)
        if invalid is not None:
            # Before any lookup or auto-registration; logged escaped (logs.SafeFormatter).
            log.warning("[%s] refused: %s", station_id, invalid)
            return _plain(http.HTTPStatus.BAD_REQUEST, f"Invalid charge point identity: {invalid}")
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        if SUBPROTOCOL not in [p.strip() for p in offered.split(",")]:
            log.warning("[%s] refused: subprotocol %s not offered", station_id, SUBPROTOCOL)
            return _plain(http.HTTPStatus.BAD_REQUEST, "Subprotocol ocpp1.6 is required")
        station = await self._lookup(station_id)
        if station is None:
            if not self.services.settings.auto_register:
                log.warning("[%s] refused: unknown station", station_id)
                return _plain(http.HTTPStatus.NOT_FOUND, "Unknown charge point")
            if ssl_object is None:
                station = await self._auto_register(station_id, 0)
            else:
                reason = await self._tls_auto_register_refusal(station_id, ssl_object, request)
                if reason is not None:
                    log.warning(
                        "[%s] refused: not auto-registered over TLS: %s", station_id, reason
                    )
                    return _plain(http.HTTPStatus.NOT_FOUND, "Unknown charge point")
                station = await self._auto_register(station_id, 3)
        authorization = request.headers.get("Authorization")
        refusal = await check_connection(self.services, station, ssl_object, authorization, peer)
        if (
            refusal is not None
            and refusal.status in (401, 403)
            and self.services.station_cache is not None
        ):
            # The row may be from this node's cache while a credential change made on another
            # node is still on its way (cluster invalidation is asynchronous): a station given its
            # new password must not be refused. The stored row decides; a refusal costs one read.
            fresh = await self.services.station_cache.reload(station_id)
            if fresh is not None and _credentials(fresh) != _credentials(station):
                station = fresh
                refusal = await check_connection(
                    self.services, station, ssl_object, authorization, peer
                )
        if refusal is not None:
            # Same answer whatever was wrong: never reveal which part failed.
            await record_refusal(self.services, station_id, refusal)
            retry = {"Retry-After": str(refusal.retry_after)}
            if refusal.status == 503:
                return _plain(http.HTTPStatus.SERVICE_UNAVAILABLE, "Busy, retry later", retry)
            if refusal.status == 429:
                return _plain(http.HTTPStatus.TOO_MANY_REQUESTS, "Too many attempts", retry)
            if refusal.status == 403:
                return _plain(http.HTTPStatus.FORBIDDEN, "Connection refused")
            return _plain(
                http.HTTPStatus.UNAUTHORIZED,
                "Authentication required",
                {"WWW-Authenticate": 'Basic realm="WattHub OCPP", charset="UTF-8"'},
            )
        return station

    async def _tls_auto_register_refusal(
        self, station_id: str, ssl_object: Any, request: Request
    ) -> str | None:
        """Auto-registration over TLS registers security profile 3, so only a station that
        presents a client certificate verified by ``tls_client_ca_file`` (and passing the
        profile 3 CN/O checks) qualifies. Basic auth alone is refused: WattHub has no password
        to check it against (docs/security.md)."""
        if self.services.settings.tls_client_ca_file is None:
            return "no tls_client_ca_file, so no client certificate can be verified (profile 3)"
        if not ssl_object.getpeercert():
            return "no verified client certificate (only profile 3 stations auto-register on TLS)"
        candidate = {"id": station_id, "security_profile": 3, "serial_number": None}
        refusal = await check_connection(
            self.services, candidate, ssl_object, request.headers.get("Authorization")
        )
        return refusal.reason if refusal is not None else None

    async def _lookup(self, station_id: str) -> dict[str, Any] | None:
        cache = self.services.station_cache
        if cache is not None:
            return await cache.get(station_id)  # type: ignore[no-any-return]
        return await self.services.read(lambda conn: stations_repo.get_station(conn, station_id))  # type: ignore[no-any-return]

    async def _auto_register(self, station_id: str, profile: int) -> dict[str, Any]:
        policy = self.services.settings.auto_register_policy
        row = {
            "id": station_id,
            "created_at": utcnow(),
            "boot_policy": policy,
            "security_profile": profile,
        }
        # A row write coalesced with the other registrations of the batch (one executemany, one
        # commit); an existing row (registered meanwhile by an operator or another node) is left
        # alone and is what the lookup below returns.
        insert = stations_repo.auto_register_insert(self.services.engine.dialect.name)
        await self.services.writer.insert(insert, [row])
        station = await self._lookup(station_id)
        if station is None:
            raise RuntimeError(f"auto-registration of {station_id!r} was not stored")
        log.info(
            "[%s] auto-registered (boot policy %s, security profile %d)",
            station_id,
            policy,
            profile,
        )
        return station

    async def _handle(self, ws: StationLink, station: dict[str, Any]) -> None:
        station_id = station["id"]
        session = StationSession(ws, station_id, station, self.services, self.message_log)
        previous = self.registry.put(session)
        if previous is not None:
            log.info("[%s] new connection replaces the previous one", station_id)
            await previous.close("replaced by a new connection")
        peer = ws.remote_address[0] if ws.remote_address else "?"
        log.info("[%s] connected from %s", station_id, peer)
        self._mark_connected(station_id, True)
        self.services.metrics.connections += 1
        # Emitted before any await, as on one node: local listeners see the connection at once.
        self.services.events.emit(events.STATION_CONNECTED, station_id=station_id)
        try:
            if self.observer is not None:
                # Before reading the first frame: commands from other nodes find the station
                # from now on, and an older connection on another node is closed.
                await self.observer.station_connected(session)
            await session.run()
        finally:
            self.registry.remove(session)
            self.services.metrics.disconnections += 1
            if self.observer is not None:
                await self.observer.station_disconnected(session)
            if self.registry.get(station_id) is None:
                self.services.registration.pop(station_id, None)
                self._mark_connected(station_id, False, session.last_seen)
            log.info(
                "[%s] disconnected (code %s)",
                station_id,
                ws.close_code if ws.close_code is not None else "none",
            )
            self.services.events.emit(events.STATION_DISCONNECTED, station_id=station_id)

    def _mark_connected(
        self, station_id: str, connected: bool, last_seen: float | None = None
    ) -> None:
        now = utcnow()
        if not connected:
            # Left alone if another node recorded a newer connection meanwhile (cluster).
            row = {"sid": station_id, "node": self.node_id, "seen": now}
            self.services.writer.post_rows(stations_repo.MARK_DISCONNECTED, [row])
            return
        row = {"sid": station_id, "since": now, "node": self.node_id, "seen": now}
        # Coalesced with every other station's connect/disconnect of the batch (one executemany).
        self.services.writer.post_rows(stations_repo.MARK_CONNECTED, [row])

    async def flush_last_seen(self) -> None:
        """Write the last-seen time of connected stations (kept in memory between flushes)."""
        from datetime import UTC, datetime

        seen = {s.station_id: datetime.fromtimestamp(s.last_seen, UTC) for s in self.registry.all()}
        if not seen:
            return

        # One executemany per chunk: a loop of single UPDATEs for 10,000 stations would hold the
        # writer (and, on SQLite, the event loop) for a noticeable time.
        rows = [{"sid": station_id, "seen": at} for station_id, at in seen.items()]
        for start in range(0, len(rows), 1000):
            self.services.writer.post_rows(
                stations_repo.TOUCH_LAST_SEEN, rows[start : start + 1000]
            )
