"""The FTP receiver for diagnostics uploads (pyftpdlib), inside the WattHub process.

Why a thread: pyftpdlib has its own (blocking) poll loop. ``ThreadedFTPServer`` accepts in one
thread that we own and runs each FTP session in a thread of its own, so a slow station upload
never touches the asyncio event loop. The accept thread polls with a short timeout so that
:meth:`FtpReceiver.stop` can end it promptly. A received file is handed back to the event loop
with ``call_soon_threadsafe``.

Each GetDiagnostics that asks for FTP gets its own account (random user and password, embedded
in the ftp:// location) whose home is ``data_dir/diagnostics/<station>/<token>``; the account
may only change directory, list and store."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import ThreadedFTPServer

from watthub.files import store

log = logging.getLogger("watthub.ftp")


@dataclass(frozen=True)
class FtpAccount:
    user: str
    password: str
    station_id: str
    request_id: int
    home: Path


# (account, absolute path of the received file) — called on the event loop.
OnFile = Callable[[FtpAccount, Path], None]


def parse_port_range(text: str) -> list[int] | None:
    if not text.strip():
        return None
    first, _, last = text.partition("-")
    low, high = int(first), int(last or first)
    if not 0 < low <= high < 65536:
        raise ValueError(f"bad passive port range {text!r}")
    return list(range(low, high + 1))


class FtpReceiver:
    def __init__(
        self,
        host: str,
        port: int,
        on_file: OnFile,
        *,
        passive_ports: str = "",
        masquerade_address: str = "",
        max_files: int = 100,
        max_bytes: int = 4 * 1024**3,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.max_files, self.max_bytes = max_files, max_bytes
        self._on_file = on_file
        self._accounts: dict[str, FtpAccount] = {}
        self._authorizer = DummyAuthorizer()
        self._stop = threading.Event()
        receiver = self
        ports = parse_port_range(passive_ports)
        nat_address = masquerade_address or None

        class LimitedDTP(DTPHandler):
            """Stops a transfer that would take its location beyond its byte limit: the
            partial file is removed (on_incomplete_file_received) and the station gets 552."""

            def handle_read(self) -> None:
                super().handle_read()
                allowance = getattr(self.cmd_channel, "upload_allowance", None)
                if (
                    self.receive
                    and allowance is not None
                    and not self.transfer_finished
                    and self.tot_bytes_received > allowance
                ):
                    self._resp = (
                        f"552 This upload location may receive at most {receiver.max_bytes} bytes.",
                        log.debug,
                    )
                    self.close()

            handle_read_event = handle_read  # pyftpdlib calls this alias, not handle_read

        class Handler(FTPHandler):  # a class per receiver: pyftpdlib configures via class attrs
            dtp_handler = LimitedDTP
            upload_allowance: int | None = None
            authorizer = self._authorizer
            banner = "WattHub diagnostics receiver"
            passive_ports = ports
            masquerade_address = nat_address
            permit_foreign_addresses = False

            def ftp_STOR(self, file: str, mode: str = "w") -> Any:
                # A STOR never replaces a file an earlier diagnostics row points to: the name
                # is claimed atomically (name-2.ext... when taken). Resuming (REST) or
                # appending would modify a stored file: refused.
                if "a" in mode or self._restart_position:
                    self._restart_position = 0
                    self.respond("550 Appending to or resuming a stored file is not allowed.")
                    return None
                path = Path(file)
                files, size = store.usage(path.parent)
                if files >= receiver.max_files or size >= receiver.max_bytes:
                    self.respond(
                        f"552 This upload location is full ({receiver.max_files} files, "
                        f"{receiver.max_bytes} bytes at most)."
                    )
                    return None
                self.upload_allowance = receiver.max_bytes - size
                claimed = store.claim_name(path.parent, path.name)
                return super().ftp_STOR(str(claimed), mode)

            def on_file_received(self, file: str) -> None:
                receiver._received(self.username, Path(file))

            def on_incomplete_file_received(self, file: str) -> None:
                # A broken transfer is not a diagnostics file: drop the partial data.
                Path(file).unlink(missing_ok=True)

        # An acceptor loop of its own: pyftpdlib's default is a process-wide IOLoop singleton, and
        # two receivers in one process (two hubs embedded, as the cluster tests do) would then
        # drive the same loop from two threads and corrupt its handlers.
        self._server = ThreadedFTPServer((host, port), Handler, ioloop=IOLoop())
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="watthub-ftp", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("FTP receiver listening on port %d", self.port)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                self._server.serve_forever(timeout=0.2, blocking=False, handle_exit=False)
        except Exception:
            log.exception("FTP receiver stopped on an error")
        finally:
            self._server.close_all()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 10)

    def add_account(self, account: FtpAccount) -> None:
        account.home.mkdir(parents=True, exist_ok=True)
        if self._authorizer.has_user(account.user):
            return
        self._authorizer.add_user(account.user, account.password, str(account.home), perm="elw")
        self._accounts[account.user] = account

    def _received(self, user: str, path: Path) -> None:
        # FTP session thread → event loop.
        account = self._accounts.get(user)
        if account is None:
            return
        self._loop.call_soon_threadsafe(self._on_file, account, path)

    def accounts(self) -> dict[str, Any]:
        return dict(self._accounts)
