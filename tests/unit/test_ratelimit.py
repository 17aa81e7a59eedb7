"""The login failure limiter: a sliding window per key, bounded memory."""

from __future__ import annotations

import pytest

from watthub.security import ratelimit
from watthub.security.ratelimit import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(ratelimit.time, "monotonic", c)
    return c


def test_blocks_after_max_failures_until_they_leave_the_window(clock: Clock) -> None:
    limiter = FailureLimiter(max_failures=3, window=60)
    for at in (1000, 1010, 1030):
        clock.now = at
        assert limiter.retry_after("olivia") == 0
        limiter.failed("olivia")
    clock.now = 1035
    # Blocked until the first failure (1000) leaves the 60 s window at 1060.
    assert limiter.retry_after("olivia") == 25
    assert limiter.retry_after("someone else") == 0
    clock.now = 1060
    assert limiter.retry_after("olivia") == 0
    limiter.failed("olivia")
    assert limiter.retry_after("olivia") == 10  # 1010 leaves at 1070
    limiter.reset("olivia")
    assert limiter.retry_after("olivia") == 0


def test_memory_is_bounded(clock: Clock) -> None:
    limiter = FailureLimiter(max_failures=1, window=60, max_keys=100)
    for n in range(1000):
        limiter.failed(f"user{n}")
    assert len(limiter._failures) == 100
    assert limiter.retry_after("user999") > 0  # the newest keys are kept
    assert limiter.retry_after("user0") == 0
