"""Security-profile checks at the WebSocket handshake (whitepaper A00.FR.002, A00.FR.2xx-4xx).

Profiles: 0 = ws://, no authentication; 1 = ws:// + Basic auth; 2 = wss:// + Basic auth;
3 = wss:// with a verified client certificate (no password). A connection that does not match
the station's profile is refused before the upgrade. The reason goes to the server log and the
``security_events`` table; the station only gets a generic 401/403."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain.context import Services
from watthub.security.passwords import parse_basic_auth, verify_station_password
from watthub.security.tls import check_client_certificate
from watthub.storage import security_repo

log = logging.getLogger("watthub.security")


@dataclass(frozen=True)
class Refusal:
    status: int  # 401 credentials, 403 wrong profile / transport, 429 back-off, 503 overload
    event_type: str
    reason: str
    retry_after: int = 0


async def check_connection(
    services: Services,
    station: dict[str, Any],
    ssl_object: Any,
    authorization: str | None,
    address: str | None = None,
) -> Refusal | None:
    station_id = station["id"]
    profile = int(station.get("security_profile") or 0)
    tls = ssl_object is not None
    if profile >= 2 and not tls:
        return Refusal(403, "ProfileMismatch", f"profile {profile} requires wss://; came on ws://")
    if profile < 2 and tls:
        return Refusal(403, "ProfileMismatch", f"profile {profile} uses ws://; came on wss://")
    if profile == 3:
        return _check_certificate(services, station, ssl_object)
    if profile == 0:
        return None
    password_hash = station.get("password_hash")
    if not password_hash:
        return Refusal(401, "FailedToAuthenticate", f"profile {profile} but no password is set")
    credentials = parse_basic_auth(authorization)
    if credentials is None:
        return Refusal(401, "FailedToAuthenticate", "no or malformed Basic authorization header")
    if credentials[0] != station_id:
        return Refusal(401, "FailedToAuthenticate", "Basic auth user is not the station id")
    guard = services.credentials
    if guard is None:
        ok = await asyncio.to_thread(verify_station_password, credentials[1], password_hash)
        return None if ok else Refusal(401, "FailedToAuthenticate", "wrong password")
    verdict = await guard.verify(station_id, address, credentials[1], password_hash)
    if verdict.ok:
        return None
    event = "FailedToAuthenticate" if verdict.status == 401 else "AuthenticationThrottled"
    return Refusal(verdict.status, event, verdict.reason, verdict.retry_after)


def _check_certificate(
    services: Services, station: dict[str, Any], ssl_object: Any
) -> Refusal | None:
    s = services.settings
    peer = ssl_object.getpeercert()
    if not peer:
        return Refusal(401, "FailedToAuthenticate", "profile 3 but no client certificate")
    serial = station.get("serial_number") if s.tls_client_cn_check == "serial" else None
    reason = check_client_certificate(
        peer,
        station["id"],
        expected_serial=serial,
        cpo_name=s.cpo_name if s.tls_client_cpo_check else None,
        check_cn=s.tls_client_cn_check != "off",
    )
    if reason is not None:
        return Refusal(401, "InvalidChargePointCertificate", reason)
    return None


class _Throttled:
    """One log line per reason and interval, with a count: a storm answered with 503s must not
    write thousands of lines."""

    interval = 10.0

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def note(self, station_id: str, reason: str) -> None:
        now = time.monotonic()
        self._counts[reason] = self._counts.get(reason, 0) + 1
        if now - self._last.get(reason, -1e9) >= self.interval:
            count = self._counts.pop(reason)
            self._last[reason] = now
            log.warning(
                "[%s] connection refused: %s (%d refusal(s) of this kind in the last %.0f s)",
                station_id,
                reason,
                count,
                self.interval,
            )


_THROTTLED = _Throttled()


async def record_refusal(services: Services, station_id: str, refusal: Refusal) -> None:
    if refusal.status in (429, 503):
        # Overload and back-off answers are not security events worth a row each: a storm or a
        # guessing bot would turn them into a write flood (and a log flood).
        _THROTTLED.note(station_id, refusal.reason)
        return
    log.warning("[%s] connection refused: %s", station_id, refusal.reason)

    async def op(conn: AsyncConnection) -> None:
        await security_repo.insert_event(
            conn,
            station_id,
            "csms",
            refusal.event_type,
            critical=True,
            tech_info=refusal.reason[:255],
        )

    await services.writer.run(op)
