"""What the metrics add per station message: ``python -m watthub.observability.costbench``.

Times, in a tight loop, exactly what the session does per answered CALL (two clock reads, the
inbox tuple, :meth:`Metrics.message_in`) and per outbound CALL, and the same with
``prometheus_client`` (cached label children, the cheapest way to use it) when it is installed, to
back the choice of a hand-written exposition. Also times one rendering of ``/metrics`` with a
realistic number of series. Figures are per operation, in microseconds (best of 5 runs)."""

from __future__ import annotations

import time
from collections.abc import Callable

from watthub.observability.metrics import LATENCY_BUCKETS, Metrics, Page

ACTIONS = ("Heartbeat", "MeterValues", "StatusNotification", "StartTransaction", "Authorize")
N = 200_000


def _best(fn: Callable[[int], None], n: int = N, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def _empty(n: int) -> None:
    actions = ACTIONS
    for i in range(n):
        _ = actions[i % 5]


def _lean(n: int) -> None:
    m = Metrics()
    clock = time.perf_counter
    actions = ACTIONS
    for i in range(n):
        item = (actions[i % 5], clock())  # the inbox entry
        m.message_in(item[0], True, clock() - item[1])


def _lean_call_out(n: int) -> None:
    m = Metrics()
    clock = time.perf_counter
    for _ in range(n):
        started = clock()
        m.call_out("RemoteStartTransaction", "ok", clock() - started, None)


def _prometheus_client(n: int) -> None:
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client import Histogram as PromHistogram

    registry = CollectorRegistry()
    counter = Counter("m", "m", ("action", "result"), registry=registry)
    hist = PromHistogram("h", "h", ("action",), buckets=LATENCY_BUCKETS, registry=registry)
    counters = {a: counter.labels(a, "ok") for a in ACTIONS}
    hists = {a: hist.labels(a) for a in ACTIONS}
    clock = time.perf_counter
    actions = ACTIONS
    for i in range(n):
        action = actions[i % 5]
        item = (action, clock())
        counters[action].inc()
        hists[action].observe(clock() - item[1])


def _prometheus_client_labels(n: int) -> None:
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client import Histogram as PromHistogram

    registry = CollectorRegistry()
    counter = Counter("m", "m", ("action", "result"), registry=registry)
    hist = PromHistogram("h", "h", ("action",), buckets=LATENCY_BUCKETS, registry=registry)
    clock = time.perf_counter
    actions = ACTIONS
    for i in range(n):
        action = actions[i % 5]
        item = (action, clock())
        counter.labels(action, "ok").inc()
        hist.labels(action).observe(clock() - item[1])


def _render_cost() -> float:
    """One /metrics page body with every action seen (no I/O: the families of collect.render
    that grow with traffic)."""
    from watthub.ocppj.schemas import known_actions

    m = Metrics()
    for action in known_actions():
        m.message_in(action, True, 0.001)
        m.call_out(action, "ok", 0.01, None)
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        page = Page()
        page.labelled("a", "counter", "h", ("action", "result"), m.messages_in)
        page.histograms("b", "h", "action", m.handling)
        page.labelled("c", "counter", "h", ("action", "result"), m.calls_out)
        page.histograms("d", "h", "action", m.call_out_latency)
        page.text()
    return (time.perf_counter() - start) / runs * 1e3


def main() -> None:
    base = _best(_empty)
    lean = _best(_lean) - base
    print(f"loop overhead subtracted: {base:.3f} µs")
    print(f"hand-written, per station CALL answered:    {lean:.3f} µs")
    print(f"hand-written, per CALL to a station:        {_best(_lean_call_out) - base:.3f} µs")
    try:
        cached = _best(_prometheus_client) - base
        labels = _best(_prometheus_client_labels) - base
    except ImportError:
        print("prometheus_client not installed: no comparison")
    else:
        print(f"prometheus_client, cached label children:  {cached:.3f} µs")
        print(f"prometheus_client, .labels() per message:  {labels:.3f} µs")
    print(f"rendering the per-action families (all actions seen): {_render_cost():.2f} ms")


if __name__ == "__main__":
    main()
