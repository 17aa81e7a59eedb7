"""The OCPP-J WebSocket endpoint: handshake, one session per connected station."""
