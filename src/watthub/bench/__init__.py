"""WattHub load benchmark: simulated OCPP 1.6J stations against WattHub and two baselines.

``python -m watthub.bench run ...`` or, from code, ``watthub.bench.main(argv)``.
See docs/benchmarks.md.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from .cli import main as _main

    return _main(argv)
