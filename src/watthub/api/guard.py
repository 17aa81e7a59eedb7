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

from typing import Any

import orjson
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watthub.api.authn import CSRF_HEADER, NOT_AUTHENTICATED, AuthError, check_access
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


def _route_markers(scope: Scope) -> tuple[list[RequireRole], bool]:
    """The role requirements of the route ``scope`` matches and whether it takes uploads."""
    app = scope.get("app")
    router = getattr(app, "router", None)
    if router is None:
        return [], False
    chosen = None
    for route in router.routes:
        match, _child = route.matches(scope)
        if match is Match.FULL:
            chosen = route
            break
        if match is Match.PARTIAL and chosen is None:
            chosen = route  # method not allowed: still guarded like the route
    if chosen is None:
        return [], False
    requirements, upload = [], False
    for dep in getattr(chosen, "dependencies", ()):
        call = getattr(dep, "dependency", None)
        if isinstance(call, RequireRole):
            requirements.append(call)
        elif call is upload_body:
            upload = True
    return requirements, upload


class AuthGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        requirements, upload = _route_markers(scope)
        hub = scope["app"].state.hub
        settings = hub.settings
        limit = settings.max_upload_bytes if upload else settings.api_max_body_bytes
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        actor_token = None
        if requirements:
            try:
                principal = await scope["app"].state.auth.authenticate(
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
