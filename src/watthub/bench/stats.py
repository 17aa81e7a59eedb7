"""Small statistics helpers (nearest-rank percentiles over merged samples)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    n = len(sorted_values)
    if n == 0:
        return None
    k = max(0, min(n - 1, math.ceil(round(p * n / 100.0, 9)) - 1))
    return sorted_values[k]


def summarize_ms(samples: Iterable[float]) -> dict[str, float | int | None]:
    """Latency samples in seconds -> count, mean/p50/p90/p99/p99.9/max in milliseconds."""
    values = sorted(samples)
    n = len(values)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000.0, 3)

    return {
        "count": n,
        "mean_ms": ms(sum(values) / n) if n else None,
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "p99_9_ms": ms(percentile(values, 99.9)),
        "max_ms": ms(values[-1]) if n else None,
    }
