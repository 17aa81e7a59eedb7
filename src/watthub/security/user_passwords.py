"""Operator (console/API user) passwords: argon2id.

Why argon2id here while station passwords use scrypt (security/passwords.py): station keys are
machine-generated 16-20 random bytes, whereas operator passwords are chosen by people and are
the weakest secret WattHub stores, so they get the function OWASP and RFC 9106 recommend first.
argon2-cffi (maintained by the argon2 reference authors' bindings) stores every parameter in the
PHC string and tells us when a stored hash uses weaker parameters (``check_needs_rehash``).

Parameters: the OWASP minimum for argon2id, m=19 MiB, t=2, p=1 (~25-40 ms on the 2-core
development VM). Hashing runs in a worker thread and at most ``_CONCURRENT`` at once, so a login
storm costs bounded memory (2 x 19 MiB) and never blocks the event loop."""

from __future__ import annotations

import asyncio
import secrets
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
_CONCURRENT = 2
_SLOTS = threading.BoundedSemaphore(_CONCURRENT)
MIN_LENGTH = 8
MAX_LENGTH = 256

# Verified when the user does not exist, so a wrong user name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def check_strength(password: str) -> str | None:
    """A readable problem with a new password, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password has at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    return None


def hash_user_password(password: str) -> str:
    with _SLOTS:
        return _HASHER.hash(password)


def verify_user_password(password: str, stored_hash: str | None) -> bool:
    with _SLOTS:
        try:
            return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


async def hash_user_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_user_password, password)


async def verify_user_password_async(password: str, stored_hash: str | None) -> bool:
    return await asyncio.to_thread(verify_user_password, password, stored_hash)


def generate_password() -> str:
    """A password for the first admin account: 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)
