"""A real ``watthub serve``: the first admin account and its password printed once in the
banner, and the server's memory while unauthenticated clients send huge bodies (#11 §3)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.api.test_cli import ROOT, env  # noqa: F401  (env is a fixture)
from tests.support.processes import free_port

MiB = 1024 * 1024


def _start(environ: dict[str, str]) -> tuple[subprocess.Popen[str], int, list[str]]:
    api_port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "watthub", "serve", "--migrate"],
        env={
            **environ,
            "WATTHUB_OCPP_PORT": str(free_port()),
            "WATTHUB_API_PORT": str(api_port),
        },
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    banner = []
    for line in process.stdout:
        banner.append(line)
        if "Database" in line:
            break
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{api_port}/api/v1/health").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "".join(banner)
        time.sleep(0.1)
    return process, api_port, banner


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    out, _ = process.communicate(timeout=15)
    return out


def _memory_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def _stream(total: int) -> Iterator[bytes]:
    chunk = b"x" * MiB
    for _ in range(total // MiB):
        yield chunk


def test_first_admin_printed_once_and_unauthenticated_bodies_cost_nothing(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {**env, "TMPDIR": str(spool)}
    process, api_port, banner = _start(env)
    base = f"http://127.0.0.1:{api_port}/api/v1"
    rest, password = "", None
    try:
        # The banner's last lines follow the database line in the same flush.
        deadline = time.monotonic() + 5
        while "First login" not in rest and time.monotonic() < deadline:
            assert process.stdout is not None
            rest += process.stdout.readline()
            rest += process.stdout.readline()
        found = re.search(r"user 'admin', password (\S+)", rest)
        assert found, "".join(banner) + rest
        password = found.group(1)
        login = httpx.post(f"{base}/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200, login.text
        assert login.json()["user"] == {"username": "admin", "role": "admin"}

        # Server memory while anonymous clients push 64 MiB at the API and 32 MiB of
        # multipart at the firmware upload: both refused from the headers.
        Path(f"/proc/{process.pid}/clear_refs").write_text("5")
        before = _memory_kib(process.pid)
        with httpx.Client(base_url=base, timeout=60) as anonymous:
            big = anonymous.post(
                "/stations",
                content=_stream(64 * MiB),
                headers={"Content-Type": "application/json", "Content-Length": str(64 * MiB)},
            )
            upload = anonymous.post(
                "/firmware",
                content=_stream(32 * MiB),
                headers={"Content-Type": "multipart/form-data; boundary=b"},
            )
        after = _memory_kib(process.pid)
        assert big.status_code == 401 and upload.status_code == 401
        grown = after["VmHWM"] - before["VmRSS"]
        assert grown < 24 * 1024, f"server peak RSS grew by {grown} KiB"
        assert list(spool.iterdir()) == []  # nothing spooled to disk either
    finally:
        first_output = "".join(banner) + rest + _stop(process)
    assert password is not None and first_output.count(password) == 1

    # Second start: an account exists, no password anywhere.
    process, _port, banner = _start(env)
    output = "".join(banner) + _stop(process)
    assert "First login" not in output and password not in output
