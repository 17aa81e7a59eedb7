"""The feature profiles WattHub loads. Importing a module registers its handlers and hooks
(``@on``, ``@before_command``, ``@after_command``, ``@on_startup`` in ``registry.py``)."""

from __future__ import annotations

import importlib
from types import ModuleType

PROFILE_MODULES = [
    "watthub.domain.core",
    "watthub.domain.core_commands",
    "watthub.domain.local_list",
    "watthub.domain.reservation",
    "watthub.domain.remote_trigger",
    "watthub.domain.smart_charging",
    "watthub.domain.sites",
    "watthub.domain.firmware",
    "watthub.domain.security",
]


def load_profiles() -> list[ModuleType]:
    return [importlib.import_module(name) for name in PROFILE_MODULES]
