"""Servers under test.

A :class:`ServerTarget` is a command, an environment and a list of TCP ports that must accept
connections before the server counts as ready. The benchmark starts each target as a subprocess on
free loopback ports, runs the scenarios against it and stops it again. New targets plug in by adding
a factory to :data:`TARGETS`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import frames as F


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _src_dir() -> str:
    """Directory that holds the ``watthub`` package, so subprocesses import this same code."""
    import watthub

    return str(Path(watthub.__file__).resolve().parent.parent)


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    src = _src_dir()
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env


@dataclass
class ServerTarget:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    path_prefix: str = ""
    ready_ports: list[int] = field(default_factory=list)
    probe_url: str | None = None
    description: str = ""
    workdir: Path | None = None
    prepare: Callable[[ServerTarget], None] | None = None
    startup_timeout: float = 60.0
    info: dict[str, str] = field(default_factory=dict)
    #: Run once after the target's last scenario (e.g. drop its database).
    cleanup: Callable[[ServerTarget], None] | None = None
    #: PostgreSQL database the target uses: its server processes' CPU is counted as the target's.
    db_name: str | None = None
    #: The target is WattHub (station prefixes, pre-registered stations, passwords apply).
    is_watthub: bool = False
    #: Command names of other servers the target needs (a cluster's ``redis-server``): their CPU
    #: is counted with the database's.
    service_processes: frozenset[str] = frozenset()

    @property
    def ws_base(self) -> str:
        """URL prefix to which the station id is appended."""
        return f"ws://127.0.0.1:{self.port}{self.path_prefix}/"

    @contextlib.contextmanager
    def running(self) -> Iterator[RunningServer]:
        server = RunningServer(self)
        try:
            server.start()
            yield server
        finally:
            server.stop()


class RunningServer:
    def __init__(self, target: ServerTarget) -> None:
        self.target = target
        self.proc: subprocess.Popen[bytes] | None = None
        logdir = target.workdir or Path(".")
        self.log_path = logdir / f"{target.name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def start(self) -> None:
        t = self.target
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                t.command,
                env=t.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(t.workdir) if t.workdir else None,
                start_new_session=True,
            )
        ports = t.ready_ports or [t.port]
        deadline = time.monotonic() + t.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{t.name}: server exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if all(port_open(p) for p in ports):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{t.name}: ports {ports} not open after {t.startup_timeout}s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


# ---------------------------------------------------------------------- factories


def _canned_target(
    name: str,
    module: str,
    description: str,
    workdir: Path,
    server_loop: str = "uvloop",
    **_: object,
) -> ServerTarget:
    """A baseline that answers canned CALLRESULTs (``baseline_raw_*``)."""
    port = free_port()
    return ServerTarget(
        name=name,
        command=[sys.executable, "-m", module, "--port", str(port), "--loop", server_loop],
        env=python_env(),
        port=port,
        probe_url=f"http://127.0.0.1:{port}/health",
        description=description,
        workdir=workdir,
        info={"loop": server_loop},
    )


def ocpp_lib_target(
    workdir: Path, server_loop: str = "uvloop", sync_validation: bool = False, **_: object
) -> ServerTarget:
    port = free_port()
    name = "ocpp-lib-sync" if sync_validation else "ocpp-lib"
    return ServerTarget(
        name=name,
        command=[
            sys.executable,
            "-m",
            "watthub.bench.baseline_ocpp_lib",
            "--port",
            str(port),
            "--loop",
            server_loop,
            *(["--sync-validation"] if sync_validation else []),
        ],
        env=python_env(),
        port=port,
        probe_url=f"http://127.0.0.1:{port}/health",
        description="ocpp.v16.ChargePoint with @on handlers, in-memory store, "
        + ("ASYNC_VALIDATION=False" if sync_validation else "library defaults"),
        workdir=workdir,
        info={"loop": server_loop, "async_validation": str(not sync_validation)},
    )


def ocpp_lib_sync_target(workdir: Path, **options: object) -> ServerTarget:
    return ocpp_lib_target(workdir, **{**options, "sync_validation": True})


def write_tags_csv(path: Path, count: int = F.ID_TAG_COUNT) -> Path:
    lines = ["idTag,status,expiryDate,parentIdTag"]
    lines += [f"{F.id_tag_for(i)},Accepted,," for i in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_step(target: ServerTarget, module: str, *args: str, timeout: float = 600) -> None:
    """Run ``python -m <module> args`` with the target's environment; fail the run on error."""
    what = f"{module} {' '.join(args[:2])}"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=target.env,
            capture_output=True,
            timeout=timeout,
            cwd=str(target.workdir) if target.workdir else None,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{target.name}: set-up `{what}` timed out") from exc
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).decode(errors="replace").strip()[-400:]
        raise BenchError(f"{target.name}: set-up `{what}` failed: {err}")


def _import_tags(target: ServerTarget) -> None:
    """Migrate the database and import the generator's id tags (``watthub tag import``).

    A failure fails the run: with missing tags every answer would be ``Invalid``."""
    assert target.workdir is not None
    if target.db_name is not None:
        run_step(target, "watthub.bench.prepare", "--create-database")
    csv = write_tags_csv(target.workdir / "bench-tags.csv")
    run_step(target, "watthub", "db", "upgrade")
    run_step(target, "watthub", "tag", "import", str(csv))


#: Database of the ``watthub-pg`` target: created before the run and dropped after it; the name is
#: unique per benchmark process, so concurrent runs (and other users of the server) never collide.
DEFAULT_PG_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/watthub_bench_{os.getpid()}"


def watthub_target(
    workdir: Path,
    db_url: str | None = None,
    import_tags: bool = True,
    extra_env: dict[str, str] | None = None,
    name: str = "watthub",
    **_: object,
) -> ServerTarget:
    port = free_port()
    api_port = free_port()
    url = db_url or f"sqlite+aiosqlite:///{(workdir / 'watthub.db').resolve()}"
    db_name = None if url.startswith("sqlite") else url.rsplit("/", 1)[-1].split("?", 1)[0]
    env = python_env(
        {
            "WATTHUB_DATABASE_URL": url,
            "WATTHUB_OCPP_HOST": "127.0.0.1",
            "WATTHUB_OCPP_PORT": str(port),
            "WATTHUB_API_PORT": str(api_port),
            "WATTHUB_AUTO_REGISTER": "true",
            "WATTHUB_AUTO_MIGRATE": "true",
            "WATTHUB_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
    )
    return ServerTarget(
        name=name,
        command=[sys.executable, "-m", "watthub", "serve"],
        env=env,
        port=port,
        path_prefix="/ocpp",
        ready_ports=[port, api_port],
        probe_url=f"http://127.0.0.1:{api_port}/api/v1/health",
        description=f"WattHub CSMS ({url.split(':', 1)[0]})",
        workdir=workdir,
        prepare=_import_tags if import_tags else None,
        startup_timeout=90.0,
        info={"database": url.split("://", 1)[0], **(extra_env or {})},
        db_name=db_name,
        is_watthub=True,
        cleanup=_drop_database if db_name is not None and db_url is None else None,
    )


def _drop_database(target: ServerTarget) -> None:
    run_step(target, "watthub.bench.prepare", "--drop-database")


def watthub_pg_target(
    workdir: Path, pg_url: str | None = None, db_url: str | None = None, **options: object
) -> ServerTarget:
    """WattHub on PostgreSQL (``--pg-url``, default :data:`DEFAULT_PG_URL`)."""
    url = pg_url or (db_url if db_url and not db_url.startswith("sqlite") else None)
    target = watthub_target(workdir, db_url=url or DEFAULT_PG_URL, name="watthub-pg", **options)  # type: ignore[arg-type]
    if url is None:
        target.cleanup = _drop_database  # our own database, not one the user named
    return target


#: Redis of the ``watthub-cluster*`` targets (override: --watthub-env WATTHUB_REDIS_URL=...).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def watthub_cluster_target(
    workdir: Path,
    workers: int | str = "auto",
    extra_env: dict[str, str] | None = None,
    **options: object,
) -> ServerTarget:
    """``watthub serve --workers N``: N WattHub nodes on one PostgreSQL database (the same one,
    and the same set-up, as ``watthub-pg``), coordinated through Redis. Redis' CPU is counted
    with PostgreSQL's as the target's own cost, as is every worker's (the server process tree)."""
    env = {
        "WATTHUB_REDIS_URL": DEFAULT_REDIS_URL,
        # A fresh key space per run: nothing left over from an earlier run (or a test) counts.
        "WATTHUB_CLUSTER_PREFIX": f"watthub-bench-{uuid.uuid4().hex[:8]}",
        **(extra_env or {}),
    }
    target = watthub_pg_target(workdir, extra_env=env, **options)
    target.name = "watthub-cluster" if workers == "auto" else f"watthub-cluster-{workers}"
    target.command += ["--workers", str(workers)]
    target.description = (
        f"WattHub, {workers} worker process(es) on PostgreSQL + Redis (serve --workers)"
    )
    target.info["workers"] = str(workers)
    target.info["database_cpu"] = "PostgreSQL backends of this database + redis-server"
    target.service_processes = frozenset({"redis-server"})
    return target


TARGETS: dict[str, Callable[..., ServerTarget]] = {
    "raw-ws": functools.partial(
        _canned_target,
        "raw-ws",
        "watthub.bench.baseline_raw_ws",
        "bare websockets server, canned CALLRESULTs (ceiling of the stack)",
    ),
    "raw-picows": functools.partial(
        _canned_target,
        "raw-picows",
        "watthub.bench.baseline_raw_picows",
        "bare picows server, canned CALLRESULTs (ceiling of WattHub's WebSocket layer)",
    ),
    "ocpp-lib": ocpp_lib_target,
    "ocpp-lib-sync": ocpp_lib_sync_target,
    "watthub": watthub_target,
    "watthub-pg": watthub_pg_target,
    "watthub-cluster-1": functools.partial(watthub_cluster_target, workers=1),
    "watthub-cluster-2": functools.partial(watthub_cluster_target, workers=2),
    "watthub-cluster": watthub_cluster_target,  # one worker per core
}


def watthub_available() -> bool:
    try:
        import watthub.server  # noqa: F401
    except ImportError:
        return False
    return True
