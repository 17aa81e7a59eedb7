"""Engine creation and migration state. SQLite runs in WAL mode with full fsync so that an answer
sent to a station is never ahead of what is on disk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Bounds on waiting for the database, so that a stalled database gives a prompt error (the
    station gets ``InternalError`` and retries) instead of a hang past the charger's own timeout.

    ``connect``: opening a connection (and a pool checkout). ``statement``: one statement —
    PostgreSQL: client-side (asyncpg ``command_timeout``, which also covers a server that stopped
    answering) and server-side (``statement_timeout``); SQLite: the busy timeout, i.e. how long a
    statement waits for another connection's write lock."""

    connect: float = 5.0
    statement: float = 10.0


# Migrations and CLI maintenance run without statement bounds: a migration may take long.
UNBOUNDED = Timeouts(connect=30.0, statement=0.0)


def create_engine(
    url: str, sqlite_synchronous: str = "FULL", timeouts: Timeouts = UNBOUNDED
) -> AsyncEngine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    busy_ms = int(timeouts.statement * 1000) if timeouts.statement else 30000
    if is_sqlite(parsed):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": busy_ms / 1000}
        # A fixed pool: an overflow connection is a new thread plus a new SQLite handle each
        # time, which under load cost more than the queries themselves.
        kwargs.update(pool_size=20, max_overflow=0, pool_timeout=60)
    else:
        # No pre-ping (a round trip per checkout on the hot path); broken connections are
        # detected on use and the pool is refreshed.
        kwargs.update(pool_size=20, max_overflow=10, pool_recycle=1800)
        connect_args: dict[str, Any] = {"timeout": timeouts.connect}
        if timeouts.statement:
            connect_args["command_timeout"] = timeouts.statement
            connect_args["server_settings"] = {
                "statement_timeout": str(int(timeouts.statement * 1000))
            }
        kwargs["connect_args"] = connect_args
        kwargs["pool_timeout"] = timeouts.connect
    engine = create_async_engine(parsed, **kwargs)
    if is_sqlite(parsed):
        _configure_sqlite(engine, sqlite_synchronous, busy_ms)
    return engine


def _configure_sqlite(engine: AsyncEngine, synchronous: str, busy_ms: int) -> None:
    if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(f"sqlite_synchronous must be FULL, NORMAL or EXTRA, not {synchronous}")

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we answer, even across a power cut. NORMAL (WAL)
        # survives a crash of WattHub but may lose the last commits on power loss.
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current_revision)


async def upgrade(engine: AsyncEngine, url: str, revision: str = "head") -> None:
    """Run Alembic migrations on ``engine`` (used by ``watthub db upgrade`` and auto-migrate)."""
    from alembic import command

    cfg = alembic_config(url)

    def _run(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def is_up_to_date(engine: AsyncEngine, url: str) -> tuple[bool, str | None, str | None]:
    current = await current_revision(engine)
    head = head_revision(url)
    return current == head, current, head


ReadWork = Callable[[Any], Awaitable[Any]]
Read = Callable[[ReadWork], Awaitable[Any]]
