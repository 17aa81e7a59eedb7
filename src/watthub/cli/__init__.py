"""The ``watthub`` command: ``main.py`` (serve, db, stations, tags, …) and one module per OCPP
feature profile or operator area, each adding its commands with ``register(main)``."""

from watthub.cli.main import main

__all__ = ["main"]
