"""Metrics (``GET /metrics``, Prometheus text format) and health checks (liveness, readiness)."""
