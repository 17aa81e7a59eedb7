"""ASGI middleware in front of every API route: authenticate from the headers and cap the body
*before* FastAPI reads it.

FastAPI parses a request's body (JSON, multipart spooled to disk) before any dependency runs,
so a bearer-token dependency alone lets anyone make the server read 500 MiB into memory or onto
disk before answering 401. Here the matched route's ``RequireRole`` dependency (api/deps.py) is
enforced from the headers alone; the body is then streamed through a counter that answers 413
once it passes the route's cap (``max_upload_bytes`` for routes marked with ``upload_body``,
``api_max_body_bytes`` for everything else), and a declared Content-Length above the cap is
refused before reading a byte.

The principal is left in ``scope["state"]`` for the route dependency, and the acting user or
token is set in ``domain.actor.current_actor`` for the audit trail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watthub.api.authn import (
    CSRF_HEADER,
    NOT_AUTHENTICATED,
    AuthError,
    authenticator,
    check_access,
)
from watthub.api.deps import RequireRole, upload_body
from watthub.domain.actor import current_actor


class _BodyTooLarge(Exception):
    pass


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    data = orjson.dumps(body)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


@dataclass(frozen=True)
class _Guarded:
    regex: re.Pattern[str]
    methods: frozenset[str]
    requirements: tuple[RequireRole, ...]
    upload: bool


class RouteTable:
    """What the guard needs to know about each API route, collected when the routers are
    included (api/app.py): its role requirements and whether it takes uploads. Kept here rather
    than read back from FastAPI's router, whose internal route structure changes between
    versions; matching follows the same order as the router's."""

    def __init__(self) -> None:
        self._routes: list[_Guarded] = []

    def add(self, routes: list[Any], prefix: str, extra: RequireRole | None) -> None:
        for route in routes:
            path, methods = getattr(route, "path", None), getattr(route, "methods", None)
            if path is None or methods is None:
                continue  # not an HTTP route (its own dependencies still apply)
            requirements, upload = [] if extra is None else [extra], False
            for dep in getattr(route, "dependencies", ()):
                call = getattr(dep, "dependency", None)
                if isinstance(call, RequireRole):
                    requirements.append(call)
                elif call is upload_body:
                    upload = True
            regex, _format, _convertors = compile_path(prefix + path)
            self._routes.append(_Guarded(regex, frozenset(methods), tuple(requirements), upload))

    def lookup(self, path: str, method: str) -> tuple[tuple[RequireRole, ...], bool]:
        """The requirements of the route ``method path`` reaches (a route of another method on
        the same path is guarded the same: the answer will be 405 anyway)."""
        partial = None
        for route in self._routes:
            if route.regex.match(path):
                if method in route.methods:
                    return route.requirements, route.upload
                partial = partial or route
        if partial is not None:
            return partial.requirements, partial.upload
        return (), False


class AuthGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        requirements, upload = state.guard_routes.lookup(scope["path"], scope["method"])
        hub = state.hub
        settings = hub.settings
        limit = settings.max_upload_bytes if upload else settings.api_max_body_bytes
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        actor_token = None
        if requirements:
            try:
                principal = await authenticator(scope["app"]).authenticate(
                    headers.get("authorization"), headers.get("cookie")
                )
                if principal is None:
                    raise AuthError(401, NOT_AUTHENTICATED, {"WWW-Authenticate": "Bearer"})
                for requirement in requirements:
                    check_access(
                        principal,
                        scope["method"],
                        requirement.role_for(scope["method"]),
                        headers.get(CSRF_HEADER),
                    )
            except AuthError as exc:
                await send_json(send, exc.status, {"detail": exc.detail}, exc.headers)
                return
            scope.setdefault("state", {})["principal"] = principal
            actor_token = current_actor.set(principal.actor)
        try:
            await self._with_limit(scope, receive, send, headers, limit, upload)
        finally:
            if actor_token is not None:
                current_actor.reset(actor_token)

    async def _with_limit(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        limit: int,
        upload: bool,
    ) -> None:
        what = "an upload" if upload else "a request body"
        setting = "max_upload_bytes" if upload else "api_max_body_bytes"
        too_large = {
            "detail": f"The body is too large: {what} here may have at most {limit} bytes "
            f"(setting {setting})"
        }
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_json(send, 400, {"detail": "Content-Length is not a number"})
                return
            if length > limit:
                await send_json(send, 413, too_large)
                return
        received = 0
        responded = False  # our 413 went out: the app's own answer is dropped

        async def counted_receive() -> Message:
            nonlocal received, responded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        responded = True
                        await send_json(send, 413, too_large)
                    raise _BodyTooLarge
            return message

        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if responded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception:
            # The app may wrap our exception (FastAPI turns body errors into 400): once the
            # 413 is out, whatever the app raised on the way is the consequence of it.
            if not responded:
                raise
