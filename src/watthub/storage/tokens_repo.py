"""Operator API bearer tokens, stored as SHA-256 hashes (tokens are 256-bit random, so a plain
hash is enough: there is nothing to brute-force). Each token has a role like a user."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables import api_tokens
from watthub.timeutil import utcnow

TOKEN_PREFIX = "wh_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(conn: AsyncConnection, name: str, *, role: str = "admin") -> str:
    """A new token (shown once). Without a role it is admin, like every token from before roles
    existed (migration 0501) and ``watthub token create`` without ``--role``; the API always
    asks for one."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        api_tokens.insert().values(
            name=name, token_hash=hash_token(token), role=role, created_at=utcnow()
        )
    )
    return token


async def check_token(conn: AsyncConnection, token: str) -> tuple[str, str] | None:
    """``(name, role)`` if the token is valid; records when it was last used."""
    result = await conn.execute(
        select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role).where(
            api_tokens.c.token_hash == hash_token(token)
        )
    )
    row = result.first()
    if row is None:
        return None
    await conn.execute(
        update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=utcnow())
    )
    return str(row.name), str(row.role)


_LISTED = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.role,
    api_tokens.c.created_at,
    api_tokens.c.last_used_at,
)


async def list_tokens(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(*_LISTED).order_by(api_tokens.c.id))
    return [dict(r._mapping) for r in result]


async def describe_token(conn: AsyncConnection, token: str) -> dict[str, Any] | None:
    """The listed fields of a token, found by its secret (right after creating it)."""
    result = await conn.execute(
        select(*_LISTED).where(api_tokens.c.token_hash == hash_token(token))
    )
    row = result.first()
    return dict(row._mapping) if row is not None else None


async def delete_token(conn: AsyncConnection, token_id: int) -> bool:
    result = await conn.execute(delete(api_tokens).where(api_tokens.c.id == token_id))
    return bool(result.rowcount)
