"""Handler tables: station → CSMS actions (``on``) and hooks around CSMS → station commands
(``command``). Feature modules register at import time; ``profiles.py`` lists them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from watthub.domain.context import Services, StationContext

Handler = Callable[[StationContext, dict[str, Any]], Awaitable[dict[str, Any]]]
# before(services, station_id, payload) -> payload to send (may assign ids, may refuse)
Before = Callable[[Services, str, dict[str, Any]], Awaitable[dict[str, Any]]]
# after(services, station_id, sent payload, answer)
After = Callable[[Services, str, dict[str, Any], dict[str, Any]], Awaitable[None]]

# startup(services) -> an optional background task: features subscribe to events and start
# their jobs here (the hub cancels returned tasks on stop). The one start-up mechanism for
# feature modules; see docs/architecture.md "Start and stop".
Startup = Callable[[Services], Awaitable["asyncio.Task[None] | None"]]

HANDLERS: dict[str, Handler] = {}
STARTUP_HOOKS: list[Startup] = []


@dataclass
class CommandHooks:
    before: list[Before]
    after: list[After]


COMMAND_HOOKS: dict[str, CommandHooks] = {}


def on(action: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        if action in HANDLERS:
            raise RuntimeError(f"two handlers for {action}")
        HANDLERS[action] = func
        return func

    return register


def _hooks(action: str) -> CommandHooks:
    return COMMAND_HOOKS.setdefault(action, CommandHooks([], []))


def before_command(action: str) -> Callable[[Before], Before]:
    def register(func: Before) -> Before:
        _hooks(action).before.append(func)
        return func

    return register


def after_command(action: str) -> Callable[[After], After]:
    def register(func: After) -> After:
        _hooks(action).after.append(func)
        return func

    return register


def on_startup(func: Startup) -> Startup:
    STARTUP_HOOKS.append(func)
    return func
