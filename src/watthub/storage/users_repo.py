"""Operator accounts and their console sessions."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables_auth import sessions, users
from watthub.timeutil import utcnow

_PUBLIC_COLUMNS = (users.c.username, users.c.role, users.c.disabled, users.c.created_at)


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def count_users(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())


async def get_user(conn: AsyncConnection, username: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(users).where(users.c.username == username))).first()
    return dict(row._mapping) if row is not None else None


async def list_users(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(*_PUBLIC_COLUMNS).order_by(users.c.username))
    return [dict(r._mapping) for r in result]


async def create_user(conn: AsyncConnection, username: str, password_hash: str, role: str) -> None:
    now = utcnow()
    await conn.execute(
        users.insert().values(
            username=username,
            password_hash=password_hash,
            role=role,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
    )


async def update_user(conn: AsyncConnection, username: str, **values: Any) -> bool:
    """Change password_hash / role / disabled; True if the user exists."""
    result = await conn.execute(
        update(users).where(users.c.username == username).values(**values, updated_at=utcnow())
    )
    return bool(result.rowcount)


async def delete_user(conn: AsyncConnection, username: str) -> bool:
    user = await get_user(conn, username)
    if user is None:
        return False
    # Explicit: SQLite enforces ON DELETE CASCADE only with the foreign_keys pragma.
    await conn.execute(delete(sessions).where(sessions.c.user_id == user["id"]))
    await conn.execute(delete(users).where(users.c.id == user["id"]))
    return True


async def delete_sessions_of(conn: AsyncConnection, username: str) -> list[str]:
    """End every session of a user; the hashed ids, for cache invalidation."""
    user = await get_user(conn, username)
    if user is None:
        return []
    result = await conn.execute(select(sessions.c.id_hash).where(sessions.c.user_id == user["id"]))
    hashes = [r.id_hash for r in result]
    await conn.execute(delete(sessions).where(sessions.c.user_id == user["id"]))
    return hashes


async def create_session(
    conn: AsyncConnection, id_hash: str, user_id: int, csrf_token: str, expires_at: datetime
) -> None:
    now = utcnow()
    await conn.execute(
        sessions.insert().values(
            id_hash=id_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
        )
    )


async def get_session(conn: AsyncConnection, id_hash: str) -> dict[str, Any] | None:
    """The session with its user's name, role and disabled flag."""
    row = (
        await conn.execute(
            select(
                sessions,
                users.c.username,
                users.c.role,
                users.c.disabled,
            )
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id_hash == id_hash)
        )
    ).first()
    return dict(row._mapping) if row is not None else None


async def touch_session(conn: AsyncConnection, id_hash: str, when: datetime) -> None:
    await conn.execute(
        update(sessions).where(sessions.c.id_hash == id_hash).values(last_seen_at=when)
    )


async def delete_session(conn: AsyncConnection, id_hash: str) -> None:
    await conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))


async def purge_expired_sessions(conn: AsyncConnection, idle_before: datetime) -> int:
    now = utcnow()
    result = await conn.execute(
        delete(sessions).where(
            (sessions.c.expires_at < now) | (sessions.c.last_seen_at < idle_before)
        )
    )
    return int(result.rowcount or 0)
