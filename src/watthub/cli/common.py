"""What the commands share: the settings, running a coroutine, a checked database connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.config import Settings
from watthub.storage import db

T = TypeVar("T")


def settings_of(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]  # type: ignore[no-any-return]


def run_async(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def with_db(settings: Settings, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """``fn`` in a transaction on the database, refused if it is not migrated to the head."""
    engine = db.create_engine(settings.database_url)
    try:
        ok, current, head = await db.is_up_to_date(engine, settings.database_url)
        if not ok:
            raise click.ClickException(
                f"The database is at revision {current or 'none'}, not {head}: "
                "run `watthub db upgrade` first."
            )
        async with engine.begin() as conn:
            return await fn(conn)
    finally:
        await engine.dispose()
