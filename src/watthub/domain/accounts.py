"""Operator accounts: the first admin, and changes that must reach every cache."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain.context import Services
from watthub.security.user_passwords import (
    check_strength,
    generate_password,
    hash_user_password_async,
)
from watthub.storage import users_repo
from watthub.storage.tables_auth import ROLES

log = logging.getLogger("watthub.accounts")

INITIAL_ADMIN = "admin"


async def ensure_initial_admin(services: Services) -> str | None:
    """With no account at all, create ``admin`` with a generated password and return the
    password (to be shown once); None when an account exists."""
    async with services.engine.connect() as conn:
        if await users_repo.count_users(conn):
            return None
    password = generate_password()
    password_hash = await hash_user_password_async(password)
    try:
        async with services.engine.begin() as conn:
            if await users_repo.count_users(conn):
                return None
            await users_repo.create_user(conn, INITIAL_ADMIN, password_hash, "admin")
    except IntegrityError:
        return None  # another node of the cluster created it at the same moment
    log.warning("created the first operator account %r (password in the start banner)", "admin")
    return password


USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
_USERNAME = re.compile(USERNAME_PATTERN)


class AccountError(Exception):
    """What the operator must fix; ``status_code`` for the API (the CLI prints the message)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def check_new_account(username: str, password: str, role: str) -> None:
    if not _USERNAME.match(username):
        raise AccountError(
            422,
            "A user name has 1 to 64 characters: letters, digits and . _ @ - "
            "(starting with a letter or digit)",
        )
    check_role(role)
    check_password(password)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(422, f"role must be one of {', '.join(ROLES)}")


def check_password(password: str) -> None:
    problem = check_strength(password)
    if problem is not None:
        raise AccountError(422, problem[0].upper() + problem[1:])


async def create_account(conn: AsyncConnection, username: str, password: str, role: str) -> None:
    check_new_account(username, password, role)
    if await users_repo.get_user(conn, username) is not None:
        raise AccountError(409, f"The user {username} already exists")
    await users_repo.create_user(conn, username, await hash_user_password_async(password), role)


async def _require_user(conn: AsyncConnection, username: str) -> dict[str, Any]:
    user = await users_repo.get_user(conn, username)
    if user is None:
        raise AccountError(404, f"There is no user {username}")
    return user


async def _keep_an_admin(conn: AsyncConnection, username: str) -> None:
    """Refuse to remove, demote or disable the last enabled admin (nobody could manage users)."""
    admins = [
        u for u in await users_repo.list_users(conn) if u["role"] == "admin" and not u["disabled"]
    ]
    if [u["username"] for u in admins] == [username]:
        raise AccountError(
            409, f"{username} is the last enabled admin; make another user admin first"
        )


async def change_account(
    conn: AsyncConnection,
    username: str,
    *,
    password: str | None = None,
    role: str | None = None,
    disabled: bool | None = None,
) -> bool:
    """Apply the changes; True if the user's sessions must end (password changed, disabled)."""
    user = await _require_user(conn, username)
    values: dict[str, Any] = {}
    if role is not None:
        check_role(role)
        if role != "admin" and user["role"] == "admin":
            await _keep_an_admin(conn, username)
        values["role"] = role
    if disabled is not None:
        if disabled and user["role"] == "admin":
            await _keep_an_admin(conn, username)
        values["disabled"] = disabled
    if password is not None:
        check_password(password)
        values["password_hash"] = await hash_user_password_async(password)
    if values:
        await users_repo.update_user(conn, username, **values)
    end = password is not None or bool(disabled)
    if end:
        await users_repo.delete_sessions_of(conn, username)
    return end


async def remove_account(conn: AsyncConnection, username: str) -> None:
    user = await _require_user(conn, username)
    if user["role"] == "admin":
        await _keep_an_admin(conn, username)
    await users_repo.delete_user(conn, username)
