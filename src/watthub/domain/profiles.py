"""The feature profiles WattHub loads. Importing a module registers its handlers and hooks; a
module may also define ``async def setup(services) -> list[asyncio.Task]`` to subscribe to events
and start background jobs (cancelled when WattHub stops)."""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType

from watthub.domain.context import Services

PROFILE_MODULES = [
    "watthub.domain.core",
    "watthub.domain.core_commands",
]


def load_profiles() -> list[ModuleType]:
    return [importlib.import_module(name) for name in PROFILE_MODULES]


async def setup_profiles(services: Services) -> list[asyncio.Task[None]]:
    tasks: list[asyncio.Task[None]] = []
    for module in load_profiles():
        setup = getattr(module, "setup", None)
        if setup is not None:
            tasks.extend(await setup(services) or [])
    return tasks
