"""The feature profiles WattHub loads. Importing a module registers its handlers and hooks."""

from __future__ import annotations

import importlib

PROFILE_MODULES = [
    "watthub.domain.core",
    "watthub.domain.core_commands",
]


def load_profiles() -> None:
    for name in PROFILE_MODULES:
        importlib.import_module(name)
