"""Counting failures per key (user name, client address) in a sliding window.

Kept in memory per node: a cluster of N nodes allows at most N times the limit, still a hard
cap for guessing. The number of keys is bounded so that a flood of made-up user names cannot
grow memory without limit (the oldest keys are forgotten first)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque


class FailureLimiter:
    def __init__(self, max_failures: int, window: float, max_keys: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again; 0 = now."""
        now = time.monotonic()
        times = self._recent(key, now)
        if times is None or len(times) < self.max_failures:
            return 0
        # Allowed again when enough failures have left the window.
        oldest_blocking = times[len(times) - self.max_failures]
        return max(1, math.ceil(oldest_blocking + self.window - now))

    def failed(self, key: str) -> None:
        now = time.monotonic()
        times = self._recent(key, now)
        if times is None:
            times = self._failures[key] = deque(maxlen=max(self.max_failures, 1))
        else:
            self._failures.move_to_end(key)
        times.append(now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)
