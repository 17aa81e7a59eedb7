"""Authentication of API requests from their headers alone: bearer tokens and console session
cookies, with short-lived caches invalidated through ``services.invalidation``.

Used by the guard middleware (api/guard.py) before any body is read, and by the route
dependency ``require_role`` (api/deps.py). Login, logout and the rate limits live here too."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watthub.domain.actor import Actor
from watthub.domain.invalidation import API_TOKENS, SESSIONS, USERS
from watthub.security.ratelimit import FailureLimiter
from watthub.security.user_passwords import (
    hash_user_password_async,
    needs_rehash,
    verify_user_password_async,
)
from watthub.storage import tokens_repo, users_repo
from watthub.storage.tables_auth import ROLES
from watthub.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    from watthub.domain.context import Services

# Each role can do everything the roles before it can.
log = logging.getLogger("watthub.auth")

ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
SESSION_COOKIE = "watthub_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_seen_at of a session is written at most this often (idle expiry is that coarse).
_TOUCH_EVERY = 60.0


class AuthError(Exception):
    """A refused request: ``status`` 401/403/429 and a readable ``detail``."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "token"
    name: str
    role: str
    session_hash: str | None = None
    csrf_token: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.kind, self.name, self.role)

    def allows(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


def _unauthorized(detail: str) -> AuthError:
    return AuthError(401, detail, {"WWW-Authenticate": "Bearer"})


NOT_AUTHENTICATED = (
    "Not authenticated: log in (POST /api/v1/auth/login) or send a bearer token "
    "(create one with `watthub token create`)"
)


def session_cookie(headers_cookie: str | None) -> str | None:
    """The session id from a Cookie header."""
    if not headers_cookie:
        return None
    for part in headers_cookie.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == SESSION_COOKIE and value:
            return value
    return None


class Authenticator:
    def __init__(self, services: Services) -> None:
        self.services = services
        s = services.settings
        self.ttl = s.auth_cache_seconds
        self.by_user = FailureLimiter(s.login_max_failures, s.login_failure_window)
        self.by_address = FailureLimiter(s.login_max_failures_per_address, s.login_failure_window)
        # token hash -> (principal, cache expiry); session hash -> (principal, expiry, last touch)
        self._tokens: dict[str, tuple[Principal, float]] = {}
        self._sessions: dict[str, tuple[Principal, float, float]] = {}
        inv = services.invalidation
        inv.subscribe(API_TOKENS, self._drop_token)
        inv.subscribe(SESSIONS, self._drop_session)
        inv.subscribe(USERS, self._drop_user)

    # --- cache invalidation --------------------------------------------------------------
    def _drop_token(self, key: str | None) -> None:
        if key is None:
            self._tokens.clear()
        else:
            self._tokens.pop(key, None)

    def _drop_session(self, key: str | None) -> None:
        if key is None:
            self._sessions.clear()
        else:
            self._sessions.pop(key, None)

    def _drop_user(self, key: str | None) -> None:
        if key is None:
            self._sessions.clear()
            return
        for id_hash in [h for h, (p, *_rest) in self._sessions.items() if p.name == key]:
            self._sessions.pop(id_hash, None)

    # --- authentication ------------------------------------------------------------------
    async def authenticate(self, authorization: str | None, cookie: str | None) -> Principal | None:
        """The principal the headers prove, None without credentials; AuthError if invalid."""
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise _unauthorized("Only bearer tokens are accepted in Authorization")
            return await self._token(value.strip())
        session_id = session_cookie(cookie)
        if session_id is not None:
            return await self._session(session_id)
        return None

    async def _token(self, token: str) -> Principal:
        key = tokens_repo.hash_token(token)
        hit = self._tokens.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        async with self.services.engine.begin() as conn:
            found = await tokens_repo.check_token(conn, token)
        if found is None:
            raise _unauthorized("Invalid bearer token")
        principal = Principal("token", found[0], found[1])
        _prune(self._tokens)
        self._tokens[key] = (principal, time.monotonic() + self.ttl)
        return principal

    async def _session(self, session_id: str) -> Principal:
        id_hash = users_repo.hash_session_id(session_id)
        now = time.monotonic()
        hit = self._sessions.get(id_hash)
        if hit is not None and hit[1] > now:
            principal, cached_until, touched = hit
        else:
            cached_until = now + self.ttl
            async with self.services.engine.connect() as conn:
                row = await users_repo.get_session(conn, id_hash)
            if row is None or row["disabled"]:
                raise _unauthorized("Your session has ended; log in again")
            last_seen = as_utc(row["last_seen_at"])
            principal = Principal(
                "user",
                row["username"],
                row["role"],
                session_hash=id_hash,
                csrf_token=row["csrf_token"],
                created_at=as_utc(row["created_at"]),
                expires_at=as_utc(row["expires_at"]),
            )
            touched = now - (utcnow() - last_seen).total_seconds()
        idle = self.services.settings.session_idle_timeout
        if (principal.expires_at and principal.expires_at <= utcnow()) or now - touched > idle:
            await self.end_session(id_hash)
            raise _unauthorized("Your session has expired; log in again")
        if now - touched > min(_TOUCH_EVERY, idle / 4):
            touched = now
            async with self.services.engine.begin() as conn:
                await users_repo.touch_session(conn, id_hash, utcnow())
        if hit is None:
            _prune(self._sessions)
        self._sessions[id_hash] = (principal, cached_until, touched)
        return principal

    # --- login / logout ------------------------------------------------------------------
    async def login(self, username: str, password: str, address: str) -> tuple[Principal, str]:
        """A new session (principal, cookie value); AuthError 401/403/429 otherwise."""
        user_key, address_key = username.casefold(), address
        wait = max(self.by_user.retry_after(user_key), self.by_address.retry_after(address_key))
        if wait:
            log.warning(
                "login of %r from %s refused: rate limited for %d s", username, address, wait
            )
            raise AuthError(
                429,
                f"Too many failed logins; try again in {wait} s",
                {"Retry-After": str(wait)},
            )
        async with self.services.engine.connect() as conn:
            user = await users_repo.get_user(conn, username)
        stored = user["password_hash"] if user is not None else None
        if not await verify_user_password_async(password, stored) or user is None:
            self.by_user.failed(user_key)
            self.by_address.failed(address_key)
            # %r: a user name is client input and must not forge log lines.
            log.warning("failed login of %r from %s", username, address)
            raise AuthError(401, "Wrong user name or password")
        if user["disabled"]:
            log.warning("login of disabled account %r from %s refused", username, address)
            raise AuthError(403, f"The account {username} is disabled")
        self.by_user.reset(user_key)
        s = self.services.settings
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        created = utcnow()
        expires = created + timedelta(seconds=s.session_max_age)
        id_hash = users_repo.hash_session_id(session_id)
        new_hash = await hash_user_password_async(password) if needs_rehash(stored or "") else None
        async with self.services.engine.begin() as conn:
            await users_repo.create_session(conn, id_hash, user["id"], csrf, expires)
            if new_hash is not None:
                await users_repo.update_user(conn, username, password_hash=new_hash)
        principal = Principal(
            "user", user["username"], user["role"], id_hash, csrf, created, expires
        )
        log.info("%r logged in from %s", username, address)
        return principal, session_id

    async def end_session(self, id_hash: str) -> None:
        async with self.services.engine.begin() as conn:
            await users_repo.delete_session(conn, id_hash)
        self.services.invalidation.publish(SESSIONS, id_hash)


_CACHE_SOFT_LIMIT = 1000


def _prune(cache: dict[str, Any]) -> None:
    """Forget entries past their cache expiry (index 1) once the cache grows: sessions that are
    never used again would otherwise stay in memory."""
    if len(cache) >= _CACHE_SOFT_LIMIT:
        now = time.monotonic()
        for key in [k for k, entry in cache.items() if entry[1] <= now]:
            del cache[key]


def authenticator(app: Any) -> Authenticator:
    """The app's Authenticator, made on first use: the API app can be built (e.g. for its
    OpenAPI document) before the hub's services exist."""
    auth: Authenticator | None = getattr(app.state, "auth", None)
    if auth is None:
        auth = app.state.auth = Authenticator(app.state.hub.services)
    return auth


def check_access(principal: Principal, method: str, role: str, csrf_header: str | None) -> None:
    """Raise AuthError 403 if ``principal`` may not do ``method`` needing ``role``."""
    if method not in SAFE_METHODS and principal.kind == "user":
        expected = principal.csrf_token or ""
        if not csrf_header or not hmac.compare_digest(csrf_header.encode(), expected.encode()):
            raise AuthError(
                403,
                "Missing or wrong X-CSRF-Token header: send the csrfToken from "
                "/api/v1/auth/login or /api/v1/auth/me with every change",
            )
    if not principal.allows(role):
        raise AuthError(
            403,
            f"The {principal.kind} {principal.name!r} has the role {principal.role}; "
            f"this needs {role}",
        )


__all__ = ["ROLES", "AuthError", "Authenticator", "Principal", "authenticator", "check_access"]
