"""The complete schema: core tables plus each feature's tables. Alembic and the tests use
``metadata`` from here so no feature's tables are forgotten."""

from __future__ import annotations

import importlib

from watthub.storage.tables import metadata

# Feature modules that define tables on the shared ``metadata``.
TABLE_MODULES: list[str] = [
    "watthub.storage.tables_localauth",
    "watthub.storage.tables_reservation",
    "watthub.storage.tables_trigger",
    "watthub.storage.tables_smart_charging",
    "watthub.storage.tables_firmware",
    "watthub.storage.tables_security",
    "watthub.storage.tables_auth",
]

for _name in TABLE_MODULES:
    importlib.import_module(_name)

__all__ = ["metadata"]
