"""Where hosted files live on disk (under ``settings.data_dir``) and how they are named.

Layout::

    firmware/<token>/<filename>                      uploaded firmware images
    diagnostics/<station>/<token>/<filename>         diagnostics files a station uploaded

Tokens are random (``secrets.token_urlsafe``): the public URLs carry no bearer token, so the
unguessable path is what protects them."""

from __future__ import annotations

import hashlib
import re
import secrets
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


def unique_path(directory: Path, filename: str) -> Path:
    """``directory/filename``, or ``name-2.ext``... when a file of that name is already there."""
    candidate = directory / filename
    stem, dot, ext = filename.partition(".")
    n = 2
    while candidate.exists():
        candidate = directory / f"{stem}-{n}{dot}{ext}"
        n += 1
    return candidate
