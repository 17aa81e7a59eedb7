"""Server process measurements from /proc (Linux): RSS and CPU time of a process tree."""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tids = [p.name for p in task_dir.iterdir()]
    except OSError:
        return out
    for tid in tids:
        try:
            out.extend(int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except OSError:
            continue
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a server may fork workers)."""
    seen = [pid]
    i = 0
    while i < len(seen) and len(seen) < 1000:
        seen.extend(c for c in _children(seen[i]) if c not in seen)
        i += 1
    return seen


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and its descendants, in KiB."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """utime + stime of ``pid`` (and its descendants unless ``tree=False``), in seconds."""
    ticks = 0
    for p in process_tree(pid) if tree else [pid]:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return ticks / CLK_TCK


def named_cpu_seconds(
    database: str | None = None, names: frozenset[str] = frozenset({"postgres", "postmaster"})
) -> float:
    """utime + stime of the database server's processes (command name in ``names``).

    PostgreSQL runs one backend per client connection plus background processes (WAL writer,
    checkpointer ...). With ``database`` only the backends connected to that database count (its
    process title is ``postgres: USER DATABASE HOST(PORT) ...``), plus every background process:
    other users of a shared server are not charged to the target, its WAL and checkpoints are.
    """
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        lpar, rpar = stat.find("("), stat.rindex(")")
        if stat[lpar + 1 : rpar] not in names:
            continue
        if database is not None:
            try:
                title = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
            if "(" in title and f" {database} " not in title:
                continue  # a client backend of another database
        fields = stat[rpar + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def machine_cpu_seconds() -> float:
    """CPU seconds that processes used on the whole machine (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    # user + nice + system: time charged to processes. irq/softirq (loopback packet processing
    # of our own traffic, mostly) and steal are left out, so "other" means other processes.
    return sum(fields[:3]) / CLK_TCK


class CpuWindow:
    """CPU use over a window: the server tree, the generator workers and the rest of the machine.

    With ``db=True`` the CPU of the PostgreSQL processes is measured too (``db_cpu_*``): it is part
    of the target's cost, not noise. ``other_pct`` is CPU used by processes that are none of these
    (other jobs on a shared machine); a large value means the measurement was disturbed.
    """

    def __init__(
        self,
        server_pid: int,
        generator_pids: list[int],
        db: bool = False,
        database: str | None = None,
        services: frozenset[str] = frozenset(),
    ) -> None:
        import time

        self._time = time.monotonic
        self.server_pid = server_pid
        self.generator_pids = generator_pids
        self.db = db
        self.database = database
        # Other servers the target needs (a cluster's Redis): their whole CPU counts as "db".
        self.services = services
        self.t0 = self._time()
        self.d0 = self._db_seconds()
        self.s0 = cpu_seconds(server_pid)
        self.g0 = sum(cpu_seconds(p) for p in generator_pids)
        self.m0 = machine_cpu_seconds()
        self.me0 = cpu_seconds(os.getpid(), tree=False)

    def _db_seconds(self) -> float:
        seconds = named_cpu_seconds(self.database) if self.db else 0.0
        if self.services:
            seconds += named_cpu_seconds(None, self.services)
        return seconds

    def stop(self) -> dict[str, float]:
        dt = max(self._time() - self.t0, 1e-9)
        s = cpu_seconds(self.server_pid) - self.s0
        g = sum(cpu_seconds(p) for p in self.generator_pids) - self.g0
        m = machine_cpu_seconds() - self.m0
        me = cpu_seconds(os.getpid(), tree=False) - self.me0
        d = self._db_seconds() - self.d0
        return {
            "window_s": round(dt, 3),
            "server_cpu_s": round(s, 4),
            "db_cpu_s": round(d, 4),
            "generator_cpu_s": round(g, 4),
            "server_cpu_pct": round(100 * s / dt, 1),
            "db_cpu_pct": round(100 * d / dt, 1),
            "generator_cpu_pct": round(100 * g / dt, 1),
            "machine_cpu_pct": round(100 * m / dt, 1),
            "other_cpu_pct": round(max(0.0, 100 * (m - s - g - d - me) / dt), 1),
        }
