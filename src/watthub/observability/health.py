"""Liveness and readiness: what a load balancer asks before sending a station to this node.

A readiness check is an ``async`` function that returns when the dependency answers and raises
otherwise. WattHub registers the database and its writer task; the cluster layer registers Redis
(``services.health.register("redis", check)``). Every check runs with a time limit, concurrently,
so one hanging dependency cannot hold the answer longer than :attr:`Health.timeout`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    seconds: float
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"ok": self.ok, "seconds": round(self.seconds, 6)}
        if self.error is not None:
            body["error"] = self.error
        return body


def describe_error(exc: BaseException) -> str:
    """One line, no SQL and no driver boilerplate: the type and the first line of the message."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    cause = exc.__cause__ or exc.__context__
    if type(exc).__module__.startswith("sqlalchemy") and cause is not None:
        exc = cause  # the driver's own error says more than SQLAlchemy's wrapper
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text[:200]


class Health:
    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.checks: dict[str, Check] = {}
        # Set when the node starts stopping: a load balancer should stop sending it stations.
        self.draining = False
        self.last: dict[str, CheckResult] = {}

    def register(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def _run(self, check: Check) -> CheckResult:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                await check()
        except Exception as exc:
            return CheckResult(False, time.perf_counter() - start, describe_error(exc))
        return CheckResult(True, time.perf_counter() - start)

    async def probe(self) -> dict[str, CheckResult]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        self.last = dict(zip(names, results, strict=True))
        return self.last

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """(ready, JSON body) for ``GET /health/ready``."""
        results = await self.probe()
        failed = [f"{name}: {r.error}" for name, r in results.items() if not r.ok]
        if self.draining:
            failed.insert(0, "node: shutting down")
        body: dict[str, object] = {
            "status": "unready" if failed else "ready",
            "checks": {name: r.as_json() for name, r in results.items()},
        }
        if failed:
            body["reason"] = "; ".join(failed)
        return not failed, body


def database_check(engine: AsyncEngine) -> Check:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    return check


def task_check(name: str, alive: Callable[[], bool]) -> Check:
    async def check() -> None:
        if not alive():
            raise RuntimeError(f"the {name} task is not running")

    return check
