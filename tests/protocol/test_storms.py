"""Reconnect storms: handshakes without a database round trip or an scrypt run per reconnect, and
overload answered explicitly (HTTP 503 / 429 with Retry-After, BootNotification Pending)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from sqlalchemy.exc import TimeoutError as PoolTimeout
from websockets.exceptions import InvalidStatus

from tests.conftest import Csms, start_csms
from tests.protocol.raw import RawStation
from tests.support.chargepoint import basic_auth_header
from tests.support.poll import eventually
from watthub.server.credentials import _Backoff
from watthub.storage.writer import BatchWriter


@contextlib.asynccontextmanager
async def _running(
    backend: str, tmp_path: Path, tmp_path_factory: Any, **settings: Any
) -> AsyncIterator[tuple[Any, Csms]]:
    """A WattHub with non-default settings, stopped afterwards."""
    hub, csms = await start_csms(backend, tmp_path, tmp_path_factory, **settings)
    try:
        yield hub, csms
    finally:
        await csms.api.aclose()
        await hub.stop()


async def _status(url: str, **kwargs: Any) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=10, **kwargs)  # type: ignore[list-item]
    return caught.value


async def _connect_ok(url: str, **kwargs: Any) -> None:
    ws = await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=10, **kwargs)  # type: ignore[list-item]
    await ws.close()


async def test_password_reconnects_reuse_the_verified_credential(csms: Csms) -> None:
    await csms.add_station("PW1", password="correct-horse-1")
    guard = csms.hub.services.credentials
    auth = basic_auth_header("PW1", "correct-horse-1")
    for _ in range(3):
        await _connect_ok(csms.url("PW1"), additional_headers=auth)
    assert guard.derivations == 1  # one scrypt run, then HMAC look-ups
    # A wrong password is still checked (and refused) ...
    wrong = await _status(
        csms.url("PW1"), additional_headers=basic_auth_header("PW1", "correct-horse-2")
    )
    assert wrong.response.status_code == 401
    # ... and a changed password drops the cached one at once.
    changed = await csms.api.put("/stations/PW1/password", json={"password": "new-horse-12345"})
    assert changed.status_code == 200, changed.text
    old = await _status(csms.url("PW1"), additional_headers=auth)
    assert old.response.status_code == 401
    await _connect_ok(
        csms.url("PW1"), additional_headers=basic_auth_header("PW1", "new-horse-12345")
    )


async def test_cached_station_row_follows_changes(csms: Csms) -> None:
    """The handshake cache must never admit a station on stale settings."""
    await csms.add_station("C1")
    await _connect_ok(csms.url("C1"))  # the row is now cached (profile 0, no password)
    assert len(csms.hub.services.station_cache) >= 1
    response = await csms.api.put("/stations/C1/password", json={"password": "secret-horse-1"})
    assert response.status_code == 200
    refused = await _status(csms.url("C1"))  # profile 1 now: Basic auth required
    assert refused.response.status_code == 401
    await _connect_ok(csms.url("C1"), additional_headers=basic_auth_header("C1", "secret-horse-1"))
    deleted = await csms.api.delete("/stations/C1")
    assert deleted.status_code == 204
    gone = await _status(csms.url("C1"), additional_headers=basic_auth_header("C1", "x" * 16))
    assert gone.response.status_code == 404


async def test_credentials_changed_on_another_node_are_honoured_at_once(csms: Csms) -> None:
    """A node whose cached row predates a password change (the cluster's invalidation is still
    on its way) checks the stored row before it refuses the new password."""
    await csms.add_station("PW3", password="first-horse-123")
    cache = csms.hub.services.station_cache
    await _connect_ok(
        csms.url("PW3"), additional_headers=basic_auth_header("PW3", "first-horse-123")
    )
    stale = await cache.get("PW3")
    changed = await csms.api.put("/stations/PW3/password", json={"password": "second-horse-45"})
    assert changed.status_code == 200, changed.text
    cache.put(stale)  # as if the invalidation had not arrived yet
    await _connect_ok(
        csms.url("PW3"), additional_headers=basic_auth_header("PW3", "second-horse-45")
    )
    # The stored row replaced the stale one: the old password is refused without a second read.
    old = await _status(
        csms.url("PW3"), additional_headers=basic_auth_header("PW3", "first-horse-123")
    )
    assert old.response.status_code == 401
    assert (await cache.get("PW3"))["password_hash"] != stale["password_hash"]


async def test_reconnect_storm_needs_no_database_reads(csms: Csms) -> None:
    ids = [f"S{i:03d}" for i in range(40)]
    for sid in ids:
        await csms.add_station(sid)
    cache = csms.hub.services.station_cache
    await asyncio.gather(*(_connect_ok(csms.url(sid)) for sid in ids))
    loads = cache.loads
    assert 1 <= loads < len(ids)  # concurrent handshakes share a query
    await asyncio.gather(*(_connect_ok(csms.url(sid)) for sid in ids))
    assert cache.loads == loads


async def test_auto_registration_storm_is_coalesced_and_complete(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    async with _running(backend, tmp_path, tmp_path_factory, auto_register=True) as (hub, csms):
        ids = [f"AUTO{i:03d}" for i in range(40)]
        batches_before = hub.services.writer.batches
        stations = await asyncio.gather(*(RawStation.open(csms.url(sid)) for sid in ids))
        boots = await asyncio.gather(*(st.boot() for st in stations))
        assert all(b[0] == 3 and b[2]["status"] == "Accepted" for b in boots)
        listed = {s["id"] for s in (await csms.api.get("/stations")).json()}
        assert set(ids) <= listed
        # 40 registrations and 40 boots shared commits.
        assert hub.services.writer.batches - batches_before < 80
        for st in stations:
            await st.close()


async def test_saturated_password_checks_answer_503_with_retry_after(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    settings = {"password_checks_waiting": 0}
    async with _running(backend, tmp_path, tmp_path_factory, **settings) as (_hub, csms):
        await csms.add_station("BUSY1", password="correct-horse-1")
        busy = await _status(
            csms.url("BUSY1"), additional_headers=basic_auth_header("BUSY1", "correct-horse-1")
        )
        assert busy.response.status_code == 503
        assert int(busy.response.headers["Retry-After"]) >= 1


async def test_wrong_passwords_back_off_per_station(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    async with _running(backend, tmp_path, tmp_path_factory, wrong_password_free=2) as (hub, csms):
        await csms.add_station("G1", password="correct-horse-1")
        await csms.add_station("G2", password="correct-horse-2")
        good = basic_auth_header("G1", "correct-horse-1")
        await _connect_ok(csms.url("G1"), additional_headers=good)  # verified, cached
        guard = hub.services.credentials
        derivations = guard.derivations
        bad = basic_auth_header("G1", "guess-guess-guess")
        statuses = [
            (await _status(csms.url("G1"), additional_headers=bad)).response.status_code
            for _ in range(5)
        ]
        assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
        assert guard.derivations == derivations + 3  # blocked guesses cost no scrypt
        blocked = await _status(csms.url("G1"), additional_headers=bad)
        assert int(blocked.response.headers["Retry-After"]) >= 1
        # The real station still gets in with its verified password; other stations are not
        # affected (the per-address limit is much higher: stations may share a NAT address).
        await _connect_ok(csms.url("G1"), additional_headers=good)
        await _connect_ok(
            csms.url("G2"), additional_headers=basic_auth_header("G2", "correct-horse-2")
        )


def test_back_off_memory_is_bounded() -> None:
    backoff = _Backoff(free=1, base=1.0, maximum=60.0, window=900.0, max_entries=100)
    for i in range(5000):
        backoff.fail(f"10.0.{i // 256}.{i % 256}", 1000.0)
    assert len(backoff) == 100
    backoff.fail("k", 1000.0)
    backoff.fail("k", 1000.0)
    assert backoff.blocked_for("k", 1000.5) == pytest.approx(0.5)
    backoff.fail("k", 1001.0)
    assert backoff.blocked_for("k", 1001.0) == pytest.approx(2.0)  # doubles per failure


async def test_saturated_node_answers_boot_pending_with_short_interval(
    csms: Csms, monkeypatch: pytest.MonkeyPatch
) -> None:
    await csms.add_station("ADM1")
    raw = await RawStation.open(csms.url("ADM1"))
    try:
        monkeypatch.setattr(BatchWriter, "backlog", property(lambda self: 10**6))
        # On the class, with a setter that ignores the writer's own updates: a commit (the
        # message log's, say) between here and the boot must not reset the simulated lag.
        monkeypatch.setattr(
            BatchWriter, "lag", property(lambda self: 60.0, lambda self, v: None), raising=False
        )
        pending = await raw.boot()
        assert pending[0] == 3 and pending[2]["status"] == "Pending"
        base = csms.hub.services.settings.boot_admission_interval
        assert base <= pending[2]["interval"] <= 2 * base
        monkeypatch.undo()
        accepted = await raw.boot()
        assert accepted[2]["status"] == "Accepted"
    finally:
        await raw.close()


async def test_boots_that_change_station_rows_reload_them_without_a_query_each(
    backend: str, tmp_path: Path, tmp_path_factory: Any
) -> None:
    """A boot that changes a station's row drops it from every node's cache and reloads it into
    its session; in a storm those reloads once took a pooled connection each (PostgreSQL's pool
    ran dry and handshakes failed with HTTP 500). They now share the cache's batched query."""
    async with _running(backend, tmp_path, tmp_path_factory, auto_register=True) as (hub, csms):
        ids = [f"RL{i:03d}" for i in range(30)]
        stations = await asyncio.gather(*(RawStation.open(csms.url(sid)) for sid in ids))
        loads = hub.services.station_cache.loads
        boots = await asyncio.gather(*(st.boot() for st in stations))
        assert all(b[2]["status"] == "Accepted" for b in boots)

        async def vendors() -> set[Any]:
            return {hub.registry.get(sid).ctx.station.get("vendor") for sid in ids}

        await eventually(vendors, lambda seen: seen == {"Raw"})
        await asyncio.sleep(0.2)  # let every reload finish
        # Reloaded through the cache's batched query (a query per reload before).
        assert 1 <= hub.services.station_cache.loads - loads < len(ids)
        # The firmware module's "anything to check at this boot?" is one query per batch too.
        firmware_checks = hub.services.features["firmware.boot_candidates"]
        assert 1 <= firmware_checks.fetches < len(ids)
        for st in stations:
            await st.close()


async def test_handshake_while_the_database_is_busy_answers_503_with_retry_after(
    csms: Csms, monkeypatch: pytest.MonkeyPatch
) -> None:
    await csms.add_station("BUSY1")
    cache = csms.hub.services.station_cache
    cache.invalidate(None)

    async def pool_exhausted(op: Any) -> Any:
        raise PoolTimeout("QueuePool limit of size 20 overflow 10 reached")

    monkeypatch.setattr(cache, "_read", pool_exhausted)
    refused = await _status(csms.url("BUSY1"))
    assert refused.response.status_code == 503
    assert int(refused.response.headers["Retry-After"]) > 0
    monkeypatch.undo()
    await _connect_ok(csms.url("BUSY1"))


async def test_boot_not_pending_because_of_a_slow_batch_long_past(
    csms: Csms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Admission control looks at how long writes wait now. A slow batch that drained (a busy
    start-up) left its wait behind as the writer's lag; the next boot, with only its own
    message-log row queued, was answered Pending (the cross-node duplicate test's flake)."""
    await csms.add_station("ADM2")
    monkeypatch.setattr(csms.hub.services.settings, "boot_admission_lag", 1.0)

    async def slow(_conn: Any) -> None:
        await asyncio.sleep(1.5)  # this batch's write waits longer than the admission limit

    await csms.hub.services.writer.run(slow)
    raw = await RawStation.open(csms.url("ADM2"))
    try:
        accepted = await raw.boot()
        assert accepted[2]["status"] == "Accepted"
    finally:
        await raw.close()
