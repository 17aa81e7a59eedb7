"""Id tags (authorization identifiers), compared case-insensitively."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.prepared import Prepared
from watthub.storage.tables import id_tags
from watthub.storage.upsert import upsert
from watthub.timeutil import utcnow

TAG_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")


def normalize(id_tag: str) -> str:
    return id_tag.casefold()


_GET = Prepared(select(id_tags).where(id_tags.c.id_tag_norm == bindparam("norm")))


async def get_tag(conn: AsyncConnection, id_tag: str) -> dict[str, Any] | None:
    return await _GET.first(conn, {"norm": normalize(id_tag)})


async def list_tags(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(id_tags).order_by(id_tags.c.id_tag))
    return [dict(r._mapping) for r in result]


async def put_tag(
    conn: AsyncConnection,
    id_tag: str,
    status: str = "Accepted",
    expiry_date: datetime | None = None,
    parent_id_tag: str | None = None,
    allow_concurrent_tx: bool = False,
    note: str = "",
) -> dict[str, Any]:
    """Create or replace a tag (keyed case-insensitively)."""
    now = utcnow()
    existing = await get_tag(conn, id_tag)
    values = {
        "status": status,
        "expiry_date": expiry_date,
        "parent_id_tag": parent_id_tag,
        "allow_concurrent_tx": allow_concurrent_tx,
        "note": note,
        "updated_at": now,
    }
    if existing is not None:
        await conn.execute(
            id_tags.update().where(id_tags.c.id_tag_norm == normalize(id_tag)).values(**values)
        )
    else:
        await upsert(
            conn,
            id_tags,
            {"id_tag": id_tag, "id_tag_norm": normalize(id_tag), "created_at": now, **values},
            keys=["id_tag"],
        )
    tag = await get_tag(conn, id_tag)
    assert tag is not None
    return tag


async def put_tags(
    conn: AsyncConnection, entries: list[tuple[str, str, datetime | None, str | None]]
) -> None:
    """:func:`put_tag` for many tags (CSV import): per chunk one look-up of the existing tags and
    one ``executemany`` each for updates and inserts, instead of three statements per tag."""
    now = utcnow()
    for start in range(0, len(entries), 1000):
        chunk = {normalize(e[0]): e for e in entries[start : start + 1000]}
        result = await conn.execute(
            select(id_tags.c.id_tag_norm).where(id_tags.c.id_tag_norm.in_(list(chunk)))
        )
        existing = {row[0] for row in result}
        updates, inserts = [], []
        for norm, (id_tag, status, expiry_date, parent) in chunk.items():
            values = {
                "status": status,
                "expiry_date": expiry_date,
                "parent_id_tag": parent,
                "allow_concurrent_tx": False,
                "note": "",
                "updated_at": now,
            }
            if norm in existing:
                updates.append({"norm": norm, **{"v_" + k: v for k, v in values.items()}})
            else:
                inserts.append({"id_tag": id_tag, "id_tag_norm": norm, "created_at": now, **values})
        if updates:
            stmt = (
                id_tags.update()
                .where(id_tags.c.id_tag_norm == bindparam("norm"))
                .values({k[2:]: bindparam(k) for k in updates[0] if k != "norm"})
            )
            await conn.execute(stmt, updates)
        if inserts:
            await conn.execute(id_tags.insert(), inserts)


async def delete_tag(conn: AsyncConnection, id_tag: str) -> bool:
    result = await conn.execute(delete(id_tags).where(id_tags.c.id_tag_norm == normalize(id_tag)))
    return result.rowcount > 0
