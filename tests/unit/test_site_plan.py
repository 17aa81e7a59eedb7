"""The site sharing policy (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from watthub.domain.sites import plan


def test_equal_share_floored() -> None:
    assert plan(32, 6, [3, 1, 2]) == {1: 10.6, 2: 10.6, 3: 10.6}


def test_newest_get_zero_when_minimum_does_not_fit() -> None:
    assert plan(15, 6, [1, 2, 3]) == {1: 7.5, 2: 7.5, 3: 0.0}
    assert plan(5, 6, [1, 2]) == {1: 0.0, 2: 0.0}


def test_no_transactions() -> None:
    assert plan(32, 6, []) == {}


@given(
    st.floats(0, 1000, allow_nan=False),
    st.floats(0, 50, allow_nan=False),
    st.lists(st.integers(1, 10_000), unique=True, max_size=30),
)
def test_never_above_limit_and_minimum_respected(
    limit: float, minimum: float, txs: list[int]
) -> None:
    shares = plan(limit, minimum, txs)
    assert set(shares) == set(txs)
    assert sum(shares.values()) <= limit + 1e-6
    assert all(v == 0 or v >= minimum - 1e-9 for v in shares.values())
