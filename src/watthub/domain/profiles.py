"""The feature profiles WattHub loads. Importing a module registers its handlers and hooks."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watthub.domain.context import Services

PROFILE_MODULES = [
    "watthub.domain.core",
    "watthub.domain.core_commands",
    "watthub.domain.smart_charging",
    "watthub.domain.sites",
]


def load_profiles() -> None:
    for name in PROFILE_MODULES:
        importlib.import_module(name)


def setup_profiles(services: Services) -> None:
    """Call each profile module's optional ``setup(services)`` once the services exist, so a
    feature can subscribe to the event bus (which is created per WattHub instance)."""
    for name in PROFILE_MODULES:
        setup = getattr(importlib.import_module(name), "setup", None)
        if setup is not None:
            setup(services)
