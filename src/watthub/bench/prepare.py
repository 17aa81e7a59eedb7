"""Set-up of the ``watthub`` targets' databases, run in a subprocess with the target's environment.

``python -m watthub.bench.prepare --stations N --prefix KNOWN [--password PW]`` registers stations
``KNOWN000000`` .. in one ``executemany`` (the storms of *known* and of *password* stations need them
registered beforehand). All password stations share one scrypt hash, computed once: hashing 10,000
passwords would take minutes and measure nothing. ``--create-database`` (PostgreSQL) drops and
creates the target database first, so every run starts from the same empty state.

Any failure exits non-zero: the benchmark treats a failed set-up as a failed run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from sqlalchemy import delete
from sqlalchemy.engine import make_url

from watthub.bench import frames as F


async def create_database(url: str, create: bool = True) -> None:
    """Drop (and re-create) the PostgreSQL database named in ``url`` (loopback only)."""
    import asyncpg  # type: ignore[import-untyped]

    parsed = make_url(url)
    if parsed.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to recreate a database that is not on loopback: {parsed.host}")
    name = parsed.database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"unexpected database name {name!r}")
    conn = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def register(url: str, stations: int, prefix: str, password: str | None) -> None:
    from watthub.security.passwords import hash_password
    from watthub.storage import db
    from watthub.storage.tables import stations as stations_table
    from watthub.timeutil import utcnow

    engine = db.create_engine(url)
    try:
        password_hash = hash_password(password) if password else None
        now = utcnow()
        ids = [F.station_id(i).replace("BENCH", prefix, 1) for i in range(stations)]
        rows = [
            {
                "id": sid,
                "created_at": now,
                "password_hash": password_hash,
                "security_profile": 1 if password_hash else 0,
            }
            for sid in ids
        ]
        async with engine.begin() as conn:
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                await conn.execute(delete(stations_table).where(stations_table.c.id.in_(chunk)))
            for start in range(0, len(rows), 5000):
                await conn.execute(stations_table.insert(), rows[start : start + 5000])
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db-url", default=os.environ.get("WATTHUB_DATABASE_URL"))
    p.add_argument("--create-database", action="store_true")
    p.add_argument("--drop-database", action="store_true")
    p.add_argument("--stations", type=int, default=0)
    p.add_argument("--prefix", default="KNOWN")
    p.add_argument("--password", default=None)
    args = p.parse_args(argv)
    if not args.db_url:
        print("no --db-url / WATTHUB_DATABASE_URL", file=sys.stderr)
        return 2
    if args.create_database:
        asyncio.run(create_database(args.db_url))
    if args.stations:
        asyncio.run(register(args.db_url, args.stations, args.prefix, args.password))
    if args.drop_database:
        asyncio.run(create_database(args.db_url, create=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
