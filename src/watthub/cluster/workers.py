"""``watthub serve --workers N``: N WattHub processes on the same OCPP and API ports.

Each worker is an ordinary ``watthub serve`` process (a cluster node named ``{node}-w{i}``) that
binds its listeners with ``SO_REUSEPORT``, so the kernel spreads new connections over the
workers. They coordinate through Redis like nodes on different machines, which is why more than
one worker needs PostgreSQL and Redis. The supervisor migrates the database once (when asked),
starts the workers, restarts one that dies, and passes SIGINT/SIGTERM on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from watthub.cluster.node import default_node_name
from watthub.config import Settings
from watthub.storage import db

RESTART_DELAY = 1.0


class WorkersRefused(ValueError):
    pass


def worker_count(value: str) -> int:
    if value == "auto":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
    try:
        count = int(value)
    except ValueError:
        raise WorkersRefused(f"--workers must be a number or 'auto', not {value!r}") from None
    if count < 1:
        raise WorkersRefused("--workers must be at least 1")
    return count


def check(settings: Settings, count: int) -> None:
    """Refuse, with the reason, what cannot work with ``count`` processes."""
    if count <= 1:
        return
    if db.is_sqlite(settings.database_url):
        raise WorkersRefused(
            f"--workers {count} needs PostgreSQL: SQLite is one process's database. Set "
            "WATTHUB_DATABASE_URL=postgresql+asyncpg://... (and WATTHUB_REDIS_URL), or run "
            "one worker."
        )
    if not settings.redis_url:
        raise WorkersRefused(
            f"--workers {count} needs Redis to coordinate the workers: set WATTHUB_REDIS_URL "
            "(e.g. redis://127.0.0.1:6379/0), or run one worker."
        )
    if settings.ocpp_port == 0 or settings.api_port == 0:
        raise WorkersRefused("--workers needs fixed OCPP and API ports (not 0)")


def supervise(settings: Settings, count: int, config_file: str | None) -> int:
    """Run ``count`` workers until SIGINT/SIGTERM; returns the exit code."""
    if settings.auto_migrate:
        import asyncio

        async def migrate() -> None:
            engine = db.create_engine(settings.database_url)
            try:
                await db.upgrade(engine, settings.database_url)
            finally:
                await engine.dispose()

        asyncio.run(migrate())
    base = settings.node_name or default_node_name()
    stopping = False

    def spawn(index: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "WATTHUB_NODE_NAME": f"{base}-w{index}",
            "WATTHUB_REUSE_PORT": "true",
            "WATTHUB_AUTO_MIGRATE": "false",
        }
        if index > 0:
            # One FTP receiver per machine (it has its own port); docs/cluster.md.
            env["WATTHUB_FTP_ENABLED"] = "false"
        if config_file:
            env["WATTHUB_CONFIG"] = config_file
        return subprocess.Popen([sys.executable, "-m", "watthub", "serve"], env=env)

    workers = [spawn(i) for i in range(count)]

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        time.sleep(0.2)
        for index, proc in enumerate(workers):
            if proc.poll() is not None and not stopping:
                print(
                    f"watthub: worker {index} exited with {proc.returncode}; restarting",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(RESTART_DELAY)
                workers[index] = spawn(index)
    code = 0
    for proc in workers:
        try:
            code = max(code, abs(proc.wait(timeout=30)))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = 1
    return code
