"""Operator API bearer tokens, stored as SHA-256 hashes (tokens are 256-bit random, so a plain
hash is enough: there is nothing to brute-force)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.storage.tables import api_tokens
from watthub.timeutil import utcnow

TOKEN_PREFIX = "wh_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(conn: AsyncConnection, name: str) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        api_tokens.insert().values(name=name, token_hash=hash_token(token), created_at=utcnow())
    )
    return token


async def check_token(conn: AsyncConnection, token: str) -> str | None:
    """The token's name if it is valid."""
    result = await conn.execute(
        select(api_tokens.c.id, api_tokens.c.name).where(
            api_tokens.c.token_hash == hash_token(token)
        )
    )
    row = result.first()
    if row is None:
        return None
    await conn.execute(
        update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=utcnow())
    )
    return str(row.name)
