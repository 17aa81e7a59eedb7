"""Where hosted files live on disk (under ``settings.data_dir``) and how they are named.

Layout::

    firmware/<token>/<filename>                      uploaded firmware images
    diagnostics/<station>/<token>/<filename>         diagnostics files a station uploaded

Tokens are random (``secrets.token_urlsafe``): the public URLs carry no bearer token, so the
unguessable path is what protects them."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def safe_name(name: str | None, fallback: str = "file.bin") -> str:
    """A file name that stays inside its directory: last path part, odd characters replaced."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE.sub("_", base).lstrip(".")[:200]
    return base or fallback


def station_dir_name(station_id: str) -> str:
    # Station ids may contain characters a file system dislikes; keep them readable yet safe.
    return safe_name(station_id, "station")


def firmware_path(token: str, filename: str) -> Path:
    return Path("firmware") / token / filename


def diagnostics_dir(station_id: str, token: str) -> Path:
    return Path("diagnostics") / station_dir_name(station_id) / token


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


TEMP_PREFIX = ".upload-"


def _candidates(directory: Path, filename: str) -> Iterator[Path]:
    yield directory / filename
    stem, dot, ext = filename.partition(".")
    for n in itertools.count(2):
        yield directory / f"{stem}-{n}{dot}{ext}"


def claim_name(directory: Path, filename: str, source: Path | None = None) -> Path:
    """Atomically take ``directory/filename`` (or ``name-2.ext``...) without ever replacing an
    existing file, and return it. With ``source`` (a finished temporary file in the same
    directory) the name becomes a hard link to it — the complete file appears at once; without,
    an empty file is created for the caller to fill (the FTP receiver)."""
    for candidate in _candidates(directory, filename):
        try:
            if source is not None:
                os.link(source, candidate)  # fails if the name exists: never a replacement
            else:
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")  # itertools.count never ends


def temp_file(directory: Path) -> tuple[int, Path]:
    """A temporary file of its own for one upload (concurrent uploads never share one)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=".part")
    return fd, Path(name)


def usage(directory: Path) -> tuple[int, int]:
    """(files, bytes) stored in one upload location, temporary files not counted."""
    files = size = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if entry.is_file() and not entry.name.startswith(TEMP_PREFIX):
                files += 1
                size += entry.stat().st_size
    return files, size


class QuotaExceeded(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class _Location:
    files: int  # stored plus in flight
    size: int  # stored plus received so far by the uploads in flight
    active: int = 0


class UploadQuotas:
    """Limits on what one upload location (one GetDiagnostics) may receive: at most
    ``max_files`` files and ``max_bytes`` bytes, counted exactly for concurrent uploads (a
    location's usage is read from its directory when its first upload starts, then tracked)."""

    def __init__(self, max_files: int, max_bytes: int) -> None:
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._locations: dict[Path, _Location] = {}

    def begin(self, directory: Path) -> Upload:
        location = self._locations.get(directory)
        if location is None:
            location = _Location(*usage(directory))
            self._locations[directory] = location
        if location.files >= self.max_files:
            if not location.active:
                del self._locations[directory]
            raise QuotaExceeded(
                409, f"This upload location already holds its maximum of {self.max_files} files"
            )
        location.files += 1
        location.active += 1
        return Upload(self, directory, location)

    def _end(self, upload: Upload, stored: bool) -> None:
        location = upload.location
        location.active -= 1
        if not stored:
            location.files -= 1
            location.size -= upload.size
        if location.active == 0:
            self._locations.pop(upload.directory, None)


class Upload:
    def __init__(self, quotas: UploadQuotas, directory: Path, location: _Location) -> None:
        self.quotas, self.directory, self.location = quotas, directory, location
        self.size = 0
        self._done = False

    def add(self, count: int) -> None:
        self.size += count
        self.location.size += count
        if self.location.size > self.quotas.max_bytes:
            raise QuotaExceeded(
                413, f"This upload location may receive at most {self.quotas.max_bytes} bytes"
            )

    def end(self, stored: bool) -> None:
        if not self._done:
            self._done = True
            self.quotas._end(self, stored)
