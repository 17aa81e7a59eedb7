"""WattHub's file server for stations, mounted at the root of the API app without a bearer token
(a station cannot present one): the unguessable token in each path is the protection.

* ``GET /files/firmware/<token>/<filename>``: a firmware image (UpdateFirmware location).
* ``PUT /files/upload/<token>/[<filename>]``: a diagnostics file as the raw body.
* ``POST /files/upload/<token>/[<filename>]``: the same as multipart/form-data (any file field)
  or as a raw body.

Upload locations are handed out by GetDiagnostics and accepted for 7 days."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from watthub.api.deps import get_hub, upload_body
from watthub.files import store
from watthub.files.runtime import UPLOAD_WINDOW, FirmwareRuntime, runtime
from watthub.storage import firmware_repo
from watthub.timeutil import as_utc, utcnow

# Uploads may be as large as max_upload_bytes (api/guard.py caps every other body smaller).
public_router = APIRouter(
    tags=["files (for stations, no token)"], dependencies=[Depends(upload_body)]
)

_CHUNK = 1024 * 1024


# GET and HEAD as two operations: one route with both methods would give OpenAPI one operationId
# twice (operationIds must be unique; tests/api/test_api_style.py).
@public_router.head(
    "/files/firmware/{token}/{filename}",
    summary="Size and checksum of a firmware image",
    operation_id="head_firmware_file",
)
@public_router.get(
    "/files/firmware/{token}/{filename}",
    summary="Download a firmware image (the URL UpdateFirmware sends)",
)
async def firmware_file(token: str, filename: str, hub: Any = Depends(get_hub)) -> FileResponse:
    rt = runtime(hub.services)
    async with hub.services.engine.connect() as conn:
        image = await firmware_repo.get_image_by_token(conn, token)
    if image is None or image["filename"] != filename:
        raise HTTPException(404, "No such file")
    path = rt.data_dir / image["path"]
    if not path.is_file():
        raise HTTPException(410, "The file is gone from the data directory")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=image["filename"],
        headers={"X-Checksum-SHA256": image["sha256"]},
    )


async def _target(hub: Any, token: str) -> tuple[FirmwareRuntime, dict[str, Any], Path]:
    rt = runtime(hub.services)
    async with hub.services.engine.connect() as conn:
        request = await firmware_repo.diagnostics_request_by_token(conn, token)
    if request is None or request["transport"] != "http":
        raise HTTPException(404, "Unknown upload location")
    requested = as_utc(request["requested_at"]) or utcnow()
    if utcnow() - requested > UPLOAD_WINDOW:
        raise HTTPException(410, "This upload location has expired")
    directory = rt.data_dir / store.diagnostics_dir(request["station_id"], token)
    directory.mkdir(parents=True, exist_ok=True)
    return rt, request, directory


def _default_name(request: dict[str, Any]) -> str:
    return request.get("file_name") or f"diagnostics-{utcnow():%Y%m%dT%H%M%SZ}.bin"


def _check_length(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"Larger than the {limit} bytes allowed")


async def _receive(
    rt: FirmwareRuntime, diag: dict[str, Any], directory: Path, name: str, chunks: Any, limit: int
) -> dict[str, Any]:
    """Stream one upload into a temporary file of its own (hashing it on the way), then give it
    its final name atomically — never replacing a file a stored row points to — and record it.
    Concurrent uploads to one location share nothing but the location's quota."""
    try:
        upload = rt.quotas().begin(directory)
    except store.QuotaExceeded as exc:
        raise HTTPException(exc.status, str(exc)) from None
    fd, partial = await asyncio.to_thread(store.temp_file, directory)
    fh = os.fdopen(fd, "wb")
    digest = hashlib.sha256()
    stored = False
    try:
        async for chunk in chunks:
            if upload.size + len(chunk) > limit:
                raise HTTPException(413, f"Larger than the {limit} bytes allowed")
            try:
                upload.add(len(chunk))
            except store.QuotaExceeded as exc:
                raise HTTPException(exc.status, str(exc)) from None
            await asyncio.to_thread(_write_hashed, fh, digest, chunk)
        await asyncio.to_thread(fh.close)
        target = await asyncio.to_thread(store.claim_name, directory, name, partial)
        stored = True
    finally:
        fh.close()
        partial.unlink(missing_ok=True)
        upload.end(stored)
    return await rt.record_diagnostics_file(
        diag["station_id"], diag["id"], target, "http", (digest.hexdigest(), upload.size)
    )


def _write_hashed(fh: Any, digest: Any, chunk: bytes) -> None:
    fh.write(chunk)
    digest.update(chunk)  # hashlib releases the GIL for large chunks: off the event loop


async def _upload_chunks(upload: UploadFile) -> Any:
    while chunk := await upload.read(_CHUNK):
        yield chunk


def _file_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "stationId": row["station_id"],
        "filename": row["filename"],
        "size": row["size"],
        "sha256": row["sha256"],
    }


async def _put(token: str, filename: str | None, request: Request, hub: Any) -> dict[str, Any]:
    rt, diag, directory = await _target(hub, token)
    limit = hub.settings.max_upload_bytes
    _check_length(request, limit)
    name = store.safe_name(filename or _default_name(diag))
    row = await _receive(rt, diag, directory, name, request.stream(), limit)
    return _file_view(row)


async def _post(token: str, filename: str | None, request: Request, hub: Any) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return await _put(token, filename, request, hub)
    rt, diag, directory = await _target(hub, token)
    limit = hub.settings.max_upload_bytes
    _check_length(request, limit)
    form = await request.form(max_files=16, max_fields=32)
    try:
        uploads = [v for _k, v in form.multi_items() if isinstance(v, UploadFile)]
        if not uploads:
            raise HTTPException(400, "multipart/form-data without a file part")
        stored = []
        for upload in uploads:
            name = store.safe_name(upload.filename or filename or _default_name(diag))
            row = await _receive(rt, diag, directory, name, _upload_chunks(upload), limit)
            stored.append(_file_view(row))
    finally:
        await form.close()
    return stored[0] if len(stored) == 1 else {"files": stored}


@public_router.put("/files/upload/{token}/", status_code=201, summary="Upload (raw body)")
@public_router.put("/files/upload/{token}", status_code=201, include_in_schema=False)
async def put_upload(token: str, request: Request, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    return await _put(token, None, request, hub)


@public_router.put(
    "/files/upload/{token}/{filename}", status_code=201, summary="Upload (raw body, named)"
)
async def put_upload_named(
    token: str, filename: str, request: Request, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    return await _put(token, filename, request, hub)


@public_router.post(
    "/files/upload/{token}/", status_code=201, summary="Upload (multipart/form-data or raw body)"
)
@public_router.post("/files/upload/{token}", status_code=201, include_in_schema=False)
async def post_upload(token: str, request: Request, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    return await _post(token, None, request, hub)


@public_router.post(
    "/files/upload/{token}/{filename}", status_code=201, summary="Upload (multipart, named)"
)
async def post_upload_named(
    token: str, filename: str, request: Request, hub: Any = Depends(get_hub)
) -> dict[str, Any]:
    return await _post(token, filename, request, hub)
