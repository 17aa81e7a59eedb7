"""The ``/metrics`` page of one WattHub node: hot-path counters from :class:`Metrics`, and the
gauges read at scrape time (connected stations, writer queue, dependency health, cluster
membership, the process itself). The metric names are listed in docs/cluster.md."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from typing import TYPE_CHECKING

from watthub import __version__
from watthub.observability.metrics import Histogram, Page
from watthub.storage import db

if TYPE_CHECKING:
    from watthub.app import WattHub

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


async def render(hub: WattHub) -> str:
    services = hub.services
    m = services.metrics
    results, nodes = await asyncio.gather(services.health.probe(), _membership(hub))
    page = Page()
    page.family("watthub_info", "gauge", "Version, node and database backend of this process")
    backend = "sqlite" if db.is_sqlite(hub.settings.database_url) else "postgresql"
    page.sample(
        "watthub_info", 1, ("version", "node", "backend"), (__version__, hub.node_id, backend)
    )

    # Stations and the OCPP traffic.
    page.gauge("watthub_connected_stations", "Stations connected to this node", len(hub.registry))
    page.counter(
        "watthub_station_connections_total", "WebSocket connections accepted", m.connections
    )
    page.counter(
        "watthub_station_disconnections_total", "Station connections ended", m.disconnections
    )
    page.labelled(
        "watthub_ocpp_handshake_refusals_total",
        "counter",
        "Connection attempts refused before the WebSocket upgrade, by HTTP status",
        ("status",),
        {(k,): v for k, v in m.handshake_refusals.items()},
    )
    page.labelled(
        "watthub_ocpp_messages_in_total",
        "counter",
        "CALLs from stations answered, by action and result (ok or callerror)",
        ("action", "result"),
        m.messages_in,
    )
    page.histograms(
        "watthub_ocpp_message_handling_seconds",
        "From taking a station's CALL up to its answer being written, by action",
        "action",
        m.handling,
    )
    page.labelled(
        "watthub_ocpp_callerrors_sent_total",
        "counter",
        "CALLERRORs sent to stations, by action and OCPP error code",
        ("action", "code"),
        m.callerrors_sent,
    )
    page.labelled(
        "watthub_ocpp_calls_out_total",
        "counter",
        "CALLs sent to stations connected here, by action and result "
        "(ok, callerror, timeout, disconnected)",
        ("action", "result"),
        m.calls_out,
    )
    page.histograms(
        "watthub_ocpp_call_out_seconds",
        "From sending a CALL to a station up to its answer, by action",
        "action",
        m.call_out_latency,
    )
    page.labelled(
        "watthub_ocpp_callerrors_received_total",
        "counter",
        "CALLERRORs stations answered to our CALLs, by action and OCPP error code",
        ("action", "code"),
        m.callerrors_received,
    )
    page.labelled(
        "watthub_routed_commands_total",
        "counter",
        "Commands routed through the cluster to the node holding the station, by action and result",
        ("action", "result"),
        m.routed,
    )
    page.histograms(
        "watthub_routed_command_seconds",
        "Latency of commands routed through the cluster, as the caller sees it",
        "action",
        m.routed_latency,
    )

    # The writer: every acknowledged station message waits for its commit.
    writer = services.writer
    page.gauge("watthub_writer_queue_depth", "Writes queued for the next commit", writer.backlog)
    page.counter("watthub_writer_batches_total", "Transactions committed", writer.batches)
    page.counter("watthub_writer_writes_total", "Writes committed", writer.ops)
    page.counter(
        "watthub_writer_failures_total", "Writes that failed (not committed)", writer.failures
    )
    page.histogram(
        "watthub_writer_commit_seconds",
        "Duration of one group commit (statements and COMMIT)",
        m.commit_latency,
    )
    page.histogram("watthub_writer_batch_size", "Writes per committed batch", m.batch_size)

    # Dependencies, readiness, cluster.
    page.labelled(
        "watthub_dependency_up",
        "gauge",
        "1 when the dependency answered its health check at this scrape",
        ("dependency",),
        [((name,), 1 if r.ok else 0) for name, r in results.items()],
    )
    page.labelled(
        "watthub_dependency_check_seconds",
        "gauge",
        "Duration of the dependency's health check at this scrape",
        ("dependency",),
        [((name,), r.seconds) for name, r in results.items()],
    )
    ready = all(r.ok for r in results.values()) and not services.health.draining
    page.gauge("watthub_ready", "1 when /health/ready answers 200", 1 if ready else 0)
    page.gauge(
        "watthub_cluster_enabled", "1 when this node is part of a cluster", int(nodes is not None)
    )
    page.gauge("watthub_cluster_nodes", "Live nodes in the cluster", len(nodes or ()))
    page.labelled(
        "watthub_cluster_node",
        "gauge",
        "One series per live cluster node, as this node sees the membership",
        ("node",),
        [((node,), 1) for node in nodes or ()],
    )
    page.histogram(
        "watthub_event_loop_lag_seconds",
        "How late the event loop ran a timer (sampled twice a second): CPU saturation",
        m.loop_lag,
    )
    _process(page, m.started)
    return page.text()


async def _membership(hub: WattHub) -> list[str] | None:
    provider = hub.services.metrics.membership
    if provider is None:
        return None
    try:
        async with asyncio.timeout(hub.services.health.timeout):
            return sorted(await provider())
    except Exception:
        return []  # Redis unreachable: a cluster of unknown membership, shown as no nodes


def _process(page: Page, started: float) -> None:
    """The standard ``process_*`` metrics, so that stock dashboards work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    page.counter(
        "process_cpu_seconds_total", "User and system CPU time", usage.ru_utime + usage.ru_stime
    )
    rss = usage.ru_maxrss * 1024  # fallback: the peak, in KiB on Linux
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * _PAGE_SIZE
    page.gauge("process_resident_memory_bytes", "Resident memory", rss)
    with contextlib.suppress(OSError):
        page.gauge("process_open_fds", "Open file descriptors", len(os.listdir("/proc/self/fd")))
    page.gauge("process_start_time_seconds", "Start time (Unix seconds)", started)


async def sample_loop_lag(histogram: Histogram, interval: float = 0.5) -> None:
    """Background job: how much later than asked the loop wakes up a sleeper."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        histogram.observe(max(0.0, loop.time() - start - interval))
