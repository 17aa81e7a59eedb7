"""NUL characters never reach the database through the API.

PostgreSQL cannot store U+0000 in text (the request failed with a 500) while SQLite stores it, so
the same request behaved differently per database. Every request is checked: a NUL in the path
or query, or in any string of a JSON body, is a 422 before the route runs. Only JSON bodies are
looked at (uploads stream untouched); the body is scanned for the ``\\u0000`` escape first, and
parsed only when it is there."""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ESCAPE = b"\\u0000"
_REFUSAL = orjson.dumps({"detail": "NUL characters (U+0000) are not allowed in any value"})


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


def _guard(app: ASGIApp) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            await _refuse(send)
            return
        if not _is_json(scope):
            await app(scope, receive, send)
            return
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        if _ESCAPE in body and _holds_nul(body):
            await _refuse(send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await app(scope, replay, send)

    return guarded


def _holds_nul(body: bytes) -> bool:
    try:
        stack = [orjson.loads(body)]
    except orjson.JSONDecodeError:
        return False  # not JSON: the route answers that itself
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


async def _refuse(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": _REFUSAL})


def guard_routes(app: FastAPI) -> None:
    """Put the guard in front of the router — inside every application middleware, so
    authentication and body-size limits run before any body is read here."""
    app.router.middleware_stack = _guard(app.router.middleware_stack)
