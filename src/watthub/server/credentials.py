"""Basic-auth checks for password stations (security profiles 1/2) that survive a reconnect storm.

The password hash at rest stays memory-hard (scrypt, ~50 ms and 16 MiB per derivation). Deriving
it on every handshake made 2,000 stations need ~60 s to reconnect, and handshakes queued silently
until the WebSocket library dropped them. So:

- **Verified-credential cache.** After a successful scrypt check we keep
  ``HMAC-SHA256(per-process secret, station id, stored hash, presented password)``; the next
  handshake with the same password is one HMAC (microseconds). The process keeps no password and
  nothing that is useful without its random secret. An entry is dropped when the station's
  credentials change (``services.invalidation``, kinds ``STATION_CREDENTIALS`` and ``STATIONS``);
  as the stored hash is part of the HMAC input, a changed password never matches an old entry
  even before the invalidation arrives.
- **Admission.** At most ``workers`` derivations run at once (threads: scrypt releases the GIL)
  and at most ``max_waiting`` wait; beyond that the handshake is answered at once with HTTP 503
  and ``Retry-After`` (the expected wait, with jitter) instead of a silent timeout.
- **Wrong-password back-off**, per station and per peer address: after ``free_failures`` wrong
  passwords (``free_failures_per_address`` for an address: many stations may share one NAT
  address) the key is blocked for a period that doubles with every further failure (up to
  ``max_backoff`` s); blocked handshakes get HTTP 429 with ``Retry-After`` and cost no scrypt.
  A station that is blocked (because someone else guessed) still gets in with a password that
  is in the verified cache. Both tables are bounded (oldest entries evicted), so a flood of
  guesses from many addresses cannot grow memory without limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import random
import secrets
import time
from dataclasses import dataclass

from watthub.security.passwords import verify_station_password


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    status: int = 0  # 401 wrong, 429 rate-limited, 503 overloaded (when not ok)
    retry_after: int = 0
    reason: str = ""


OK = Verdict(True)


class _Backoff:
    """Failure counts with exponential blocking, bounded to ``max_entries`` keys."""

    def __init__(self, free: int, base: float, maximum: float, window: float, max_entries: int):
        self.free, self.base, self.maximum = free, base, maximum
        self.window = window
        self.max_entries = max_entries
        self._entries: dict[str, tuple[int, float, float]] = {}  # key -> (fails, last, until)

    def blocked_for(self, key: str, now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        _fails, last, until = entry
        if now - last > self.window and now >= until:
            del self._entries[key]
            return 0.0
        return max(0.0, until - now)

    def fail(self, key: str, now: float) -> None:
        fails, last, _until = self._entries.pop(key, (0, now, 0.0))
        if now - last > self.window:
            fails = 0
        fails += 1
        until = 0.0
        if fails > self.free:
            until = now + min(self.maximum, self.base * 2 ** (fails - self.free - 1))
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (fails, now, until)  # re-inserted: most recent last

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class CredentialGuard:
    def __init__(
        self,
        *,
        workers: int | None = None,
        max_waiting: int = 64,
        max_cached: int = 200_000,
        free_failures: int = 5,
        free_failures_per_address: int = 50,
        backoff_base: float = 1.0,
        max_backoff: float = 300.0,
        failure_window: float = 900.0,
        max_tracked: int = 10_000,
    ) -> None:
        self._secret = secrets.token_bytes(32)
        self._verified: dict[str, frozenset[bytes]] = {}
        self._max_cached = max_cached
        self._workers = workers or max(1, os.cpu_count() or 1)
        self._slots = asyncio.Semaphore(self._workers)
        self._max_waiting = max_waiting
        self._waiting = 0
        self.by_station = _Backoff(
            free_failures, backoff_base, max_backoff, failure_window, max_tracked
        )
        self.by_address = _Backoff(
            free_failures_per_address, backoff_base, max_backoff, failure_window, max_tracked
        )
        self.derivations = 0  # scrypt runs (for tests and metrics)
        self.seconds_per_derivation = 0.05  # running estimate, for Retry-After

    def _mac(self, station_id: str, stored_hash: str, presented: str) -> bytes:
        msg = b"\0".join(
            (
                station_id.encode("utf-8", "surrogateescape"),
                stored_hash.encode(),
                presented.encode("utf-8", "surrogateescape"),
            )
        )
        return hmac.new(self._secret, msg, hashlib.sha256).digest()

    def invalidate(self, station_id: str | None) -> None:
        if station_id is None:
            self._verified.clear()
        else:
            self._verified.pop(station_id, None)

    def cached(self, station_id: str) -> bool:
        return station_id in self._verified

    def _remember(self, station_id: str, mac: bytes) -> None:
        known = self._verified.pop(station_id, frozenset())
        if len(self._verified) >= self._max_cached:
            self._verified.pop(next(iter(self._verified)))
        # At most two forms per station (raw password and its hex form, both accepted).
        self._verified[station_id] = frozenset([*list(known)[-1:], mac])

    def _retry_after(self, wait: float) -> int:
        return max(1, int(wait + 1 + random.random() * max(2.0, wait / 2)))

    async def verify(
        self, station_id: str, address: str | None, presented: str, stored_hash: str
    ) -> Verdict:
        mac = self._mac(station_id, stored_hash, presented)
        known = self._verified.get(station_id)
        if known is not None and any(hmac.compare_digest(mac, k) for k in known):
            return OK
        now = time.monotonic()
        addr_key = address or "?"
        blocked = max(
            self.by_station.blocked_for(station_id, now), self.by_address.blocked_for(addr_key, now)
        )
        if blocked > 0:
            return Verdict(False, 429, self._retry_after(blocked), "too many wrong passwords")
        if self._waiting >= self._max_waiting:
            wait = self._waiting * self.seconds_per_derivation / self._workers
            return Verdict(False, 503, self._retry_after(wait), "password checks saturated")
        self._waiting += 1
        try:
            async with self._slots:
                t0 = time.monotonic()
                ok = await asyncio.to_thread(verify_station_password, presented, stored_hash)
                took = time.monotonic() - t0
        finally:
            self._waiting -= 1
        self.derivations += 1
        self.seconds_per_derivation = 0.8 * self.seconds_per_derivation + 0.2 * took
        now = time.monotonic()
        if not ok:
            self.by_station.fail(station_id, now)
            self.by_address.fail(addr_key, now)
            return Verdict(False, 401, 0, "wrong password")
        self.by_station.forget(station_id)
        self._remember(station_id, mac)
        return OK
