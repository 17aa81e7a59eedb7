"""The OCPP-J 1.6 protocol edge: framing, schema validation and RPC bookkeeping, free of I/O."""
