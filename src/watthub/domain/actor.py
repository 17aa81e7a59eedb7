"""Who is acting: set by the API's authentication for the duration of a request, read by
``domain.commands.send_command`` for the audit trail. A context variable, so every call path
(typed endpoints, the generic endpoint, feature code a request triggers, tasks it spawns)
carries it without an extra argument; code running outside a request has no actor."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" (console session) or "token" (API bearer token)
    name: str
    role: str


current_actor: ContextVar[Actor | None] = ContextVar("watthub_actor", default=None)
