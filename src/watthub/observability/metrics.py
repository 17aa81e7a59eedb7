"""In-process metrics, exposed in the Prometheus text format (``GET /metrics``).

Hand-written rather than ``prometheus_client``: the per-message budget is a few tens of
microseconds, and a labelled ``prometheus_client`` counter plus histogram costs several times what
a dict increment and a ``bisect`` cost here (the figures are in docs/cluster.md, "Observability").
WattHub runs on one event loop per process, so no lock is needed; every value is read and written
on that loop.

Only what changes per message is recorded on the hot path (:meth:`Metrics.message_in`,
:meth:`Metrics.call_out`, :meth:`Metrics.callerror_sent`); gauges (connected stations, writer
queue depth, dependency health, cluster membership) are read when the page is rendered, so they
cost nothing between scrapes. Label values come from closed sets (OCPP actions, OCPP error codes):
a station cannot grow the page by sending made-up action names or codes."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable
from functools import cache
from typing import Final

from watthub.ocppj.errors import ErrorCode
from watthub.ocppj.schemas import known_actions

# Seconds. Fine at the low end, where a healthy CSMS answers (tens of µs to a few ms), and wide
# enough to show a database stall or a station that takes the whole call timeout.
LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
BATCH_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 512, 1000)

UNKNOWN: Final = "_unknown"  # an action or error code outside the OCPP 1.6 sets
NONE: Final = "_none"  # a CALLERROR for a frame that had no readable action

_ERROR_CODES: Final = frozenset(code.value for code in ErrorCode)
_ACTIONS: Final = known_actions()


class Histogram:
    """One histogram series: per-bucket counts (made cumulative when rendered), sum, count."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last slot is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, i.e. the bucket ``le`` that holds it.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1


class Metrics:
    """The counters and histograms of one WattHub process (one per hub)."""

    def __init__(self) -> None:
        self.started = time.time()
        # (action, result) -> count; result is "ok" or "callerror".
        self.messages_in: dict[tuple[str, str], int] = {}
        self.handling: dict[str, Histogram] = {}
        # (action, code) -> count, for every CALLERROR we send (frame errors have no action).
        self.callerrors_sent: dict[tuple[str, str], int] = {}
        # Our CALLs to stations, on the node holding the connection: result is ok, callerror,
        # timeout or disconnected; a station's CALLERROR code is counted separately.
        self.calls_out: dict[tuple[str, str], int] = {}
        self.call_out_latency: dict[str, Histogram] = {}
        self.callerrors_received: dict[tuple[str, str], int] = {}
        # Commands routed to the node holding the station (the cluster gateway calls
        # :meth:`routed_command`); result: ok, callerror, timeout, not_connected, unavailable.
        self.routed: dict[tuple[str, str], int] = {}
        self.routed_latency: dict[str, Histogram] = {}
        self.connections = 0
        self.disconnections = 0
        self.handshake_refusals: dict[str, int] = {}
        self.commit_latency = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.loop_lag = Histogram(LATENCY_BUCKETS)
        # Set by the cluster layer: the names of the live nodes (``watthub_cluster_*``).
        self.membership: Callable[[], Awaitable[Iterable[str]]] | None = None

    def action(self, action: str | None) -> str:
        if action is None:
            return NONE
        return action if action in _ACTIONS else UNKNOWN

    # -- hot path --------------------------------------------------------------------------------

    def message_in(self, action: str, ok: bool, seconds: float) -> None:
        """A station's CALL was answered (``ok``: with a CALLRESULT) ``seconds`` after it was
        taken up."""
        if action not in _ACTIONS:
            action = UNKNOWN
        key = (action, "ok" if ok else "callerror")
        counts = self.messages_in
        counts[key] = counts.get(key, 0) + 1
        histogram = self.handling.get(action)
        if histogram is None:
            histogram = self.handling[action] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)

    def callerror_sent(self, action: str | None, code: str) -> None:
        key = (self.action(action), code if code in _ERROR_CODES else UNKNOWN)
        self.callerrors_sent[key] = self.callerrors_sent.get(key, 0) + 1

    def call_out(self, action: str, result: str, seconds: float, code: str | None = None) -> None:
        """One of our CALLs to a station ended (``result``: ok, callerror, timeout,
        disconnected); ``code`` is the station's CALLERROR code."""
        action = _count_and_time(self.calls_out, self.call_out_latency, action, result, seconds)
        if code is not None:
            error = (action, code if code in _ERROR_CODES else UNKNOWN)
            self.callerrors_received[error] = self.callerrors_received.get(error, 0) + 1

    # -- hooks for the rest of WattHub -----------------------------------------------------------

    def routed_command(self, action: str, result: str, seconds: float) -> None:
        """Called by a gateway that routes a command to another node (cluster mode) when the
        command ends: the latency seen by the API caller, Redis round trips included."""
        _count_and_time(self.routed, self.routed_latency, action, result, seconds)

    def handshake_refused(self, status: int) -> None:
        key = str(status)
        self.handshake_refusals[key] = self.handshake_refusals.get(key, 0) + 1

    def batch_committed(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.commit_latency.observe(seconds)


def _count_and_time(
    counts: dict[tuple[str, str], int],
    latency: dict[str, Histogram],
    action: str,
    result: str,
    seconds: float,
) -> str:
    """One command ended: count it by (action, result), time it by action; returns the action
    label used."""
    if action not in _ACTIONS:
        action = UNKNOWN
    key = (action, result)
    counts[key] = counts.get(key, 0) + 1
    histogram = latency.get(action)
    if histogram is None:
        histogram = latency[action] = Histogram(LATENCY_BUCKETS)
    histogram.observe(seconds)
    return action


# -- exposition ----------------------------------------------------------------------------------


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@cache
def _bounds_text(bounds: tuple[float, ...]) -> tuple[str, ...]:
    return (*(_number(b) for b in bounds), "+Inf")


class Page:
    """Builds one exposition page; each family is written once with its HELP and TYPE."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")

    def sample(
        self, name: str, value: float, names: tuple[str, ...] = (), values: tuple[str, ...] = ()
    ) -> None:
        self._lines.append(f"{name}{_labels(names, values)} {_number(value)}")

    def gauge(self, name: str, help_text: str, value: float) -> None:
        self.family(name, "gauge", help_text)
        self.sample(name, value)

    def counter(self, name: str, help_text: str, value: float) -> None:
        self.family(name, "counter", help_text)
        self.sample(name, value)

    def labelled(
        self,
        name: str,
        kind: str,
        help_text: str,
        names: tuple[str, ...],
        series: dict[tuple[str, ...], int] | Iterable[tuple[tuple[str, ...], float]],
    ) -> None:
        self.family(name, kind, help_text)
        items = series.items() if isinstance(series, dict) else series
        for values, value in sorted(items):
            self.sample(name, value, names, values)

    def histograms(
        self, name: str, help_text: str, label: str | None, series: dict[str, Histogram]
    ) -> None:
        self.family(name, "histogram", help_text)
        for key in sorted(series):
            self._histogram(name, (label,) if label else (), (key,) if label else (), series[key])

    def histogram(self, name: str, help_text: str, histogram: Histogram) -> None:
        self.family(name, "histogram", help_text)
        self._histogram(name, (), (), histogram)

    def _histogram(
        self, name: str, names: tuple[str, ...], values: tuple[str, ...], h: Histogram
    ) -> None:
        # The hot spot of a scrape (16 lines per series): label text and bucket bounds are
        # formatted once per series / per bucket list, not once per line.
        labels = ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True))
        prefix = f"{name}_bucket{{{labels}," if labels else f"{name}_bucket{{"
        append = self._lines.append
        running = 0
        for le, count in zip(_bounds_text(h.bounds), h.counts, strict=True):
            running += count
            append(f'{prefix}le="{le}"}} {running}')
        suffix = f"{{{labels}}}" if labels else ""
        append(f"{name}_sum{suffix} {_number(h.sum)}")
        append(f"{name}_count{suffix} {h.count}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"
