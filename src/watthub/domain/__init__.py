"""Domain logic, grouped by OCPP 1.6 feature profile.

- ``core.py``: Core profile messages a station sends (BootNotification, StartTransaction, ...)
- ``commands.py``: every command WattHub sends to a station (API, CLI and features go through it)
- one module per optional profile (firmware, local list, reservation, smart charging, trigger,
  security), each registering its handlers and command hooks with ``registry.py``.
"""
