"""Firmware Management: hosted firmware images, UpdateFirmware / GetDiagnostics, per-station
firmware and diagnostics state, received diagnostics files and firmware campaigns."""

import asyncio
import hashlib
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse
from pydantic import Field, model_validator
from sqlalchemy.exc import IntegrityError

from watthub.api import present
from watthub.api.deps import get_hub, require_token, upload_body
from watthub.api.params import RowId
from watthub.api.present import ApiModel
from watthub.api.typed import command_endpoint
from watthub.domain.firmware_campaigns import cancel_campaign
from watthub.files import store
from watthub.files.runtime import runtime
from watthub.storage import firmware_repo, stations_repo
from watthub.timeutil import utcnow

router = APIRouter(tags=["firmware"], dependencies=[Depends(require_token)])


# -- commands -------------------------------------------------------------------------------


class UpdateFirmware(ApiModel):
    location: str | None = Field(None, description="URL the station downloads the image from")
    firmwareId: int | None = Field(
        None, description="An image uploaded to WattHub (POST /firmware); its URL is the location"
    )
    retrieveDate: datetime | None = Field(None, description="Default: now")
    retries: int | None = Field(None, ge=0)
    retryInterval: int | None = Field(None, ge=0, description="Seconds")

    @model_validator(mode="after")
    def one_source(self) -> "UpdateFirmware":
        if (self.location is None) == (self.firmwareId is None):
            raise ValueError("give exactly one of location and firmwareId")
        return self


class GetDiagnostics(ApiModel):
    location: str | None = Field(
        None, description="Where the station uploads; default: WattHub's own upload location"
    )
    transport: Literal["http", "ftp"] | None = Field(
        None, description="WattHub's location: HTTP (default) or FTP (needs ftp_enabled)"
    )
    startTime: datetime | None = None
    stopTime: datetime | None = None
    retries: int | None = Field(None, ge=0)
    retryInterval: int | None = Field(None, ge=0)


command_endpoint(router, "update-firmware", "UpdateFirmware", UpdateFirmware, "Update firmware")
command_endpoint(
    router, "get-diagnostics", "GetDiagnostics", GetDiagnostics, "Ask for a diagnostics file"
)


# -- firmware images ------------------------------------------------------------------------


def _image_view(hub: Any, image: dict[str, Any]) -> dict[str, Any]:
    out = present.row(image) or {}
    out.pop("path", None)
    out["url"] = runtime(hub.services).firmware_url(image)
    return out


@router.post(
    "/firmware",
    status_code=201,
    summary="Upload a firmware image (multipart)",
    dependencies=[Depends(upload_body)],
)
async def upload_firmware(
    file: UploadFile = File(..., description="The image"),
    version: str | None = Form(None, max_length=50, description="Version it installs"),
    description: str = Form(""),
    hub: Any = Depends(get_hub),
) -> dict[str, Any]:
    rt = runtime(hub.services)
    limit = hub.settings.max_upload_bytes
    filename = store.safe_name(file.filename, "firmware.bin")
    token = store.new_token()
    relative = store.firmware_path(token, filename)
    target = rt.data_dir / relative
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as fh:
            while chunk := await file.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"Larger than the {limit} bytes allowed")
                digest.update(chunk)
                await asyncio.to_thread(fh.write, chunk)
        if size == 0:
            raise HTTPException(422, "The file is empty")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    async with hub.services.engine.begin() as conn:
        image = await firmware_repo.insert_image(
            conn,
            token=token,
            filename=filename,
            version=version or None,
            description=description,
            size=size,
            sha256=digest.hexdigest(),
            path=relative.as_posix(),
        )
    return _image_view(hub, image)


@router.get("/firmware", summary="Uploaded firmware images")
async def list_firmware(hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        images = await firmware_repo.list_images(conn)
    return [_image_view(hub, i) for i in images]


async def _image_or_404(hub: Any, image_id: int) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        image = await firmware_repo.get_image(conn, image_id)
    if image is None:
        raise HTTPException(404, f"No firmware image {image_id}")
    return image


@router.get("/firmware/{image_id}", summary="One firmware image")
async def get_firmware(image_id: RowId, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    return _image_view(hub, await _image_or_404(hub, image_id))


@router.delete("/firmware/{image_id}", status_code=204, summary="Remove an image and its file")
async def delete_firmware(image_id: RowId, hub: Any = Depends(get_hub)) -> None:
    image = await _image_or_404(hub, image_id)
    async with hub.services.engine.begin() as conn:
        await firmware_repo.delete_image(conn, image_id)
    path = runtime(hub.services).data_dir / image["path"]
    path.unlink(missing_ok=True)


# -- per station ----------------------------------------------------------------------------


async def _station_or_404(hub: Any, station_id: str) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        station = await stations_repo.get_station(conn, station_id)
    if station is None:
        raise HTTPException(404, f"Station {station_id} is not registered")
    return station


def _current(event: dict[str, Any] | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"status": event["status"], "at": present.row(event)["receivedAt"]}  # type: ignore[index]


@router.get(
    "/stations/{station_id}/firmware",
    summary="Firmware state: version, current status, timeline, UpdateFirmware requests",
)
async def station_firmware(station_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    station = await _station_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        timeline = await firmware_repo.status_timeline(conn, station_id, "firmware")
        updates = await firmware_repo.list_updates(conn, station_id)
    return {
        "stationId": station_id,
        "firmwareVersion": station.get("firmware_version"),
        "current": _current(timeline[0] if timeline else None),
        "timeline": present.rows(timeline),
        "updates": present.rows(updates),
    }


@router.get(
    "/stations/{station_id}/diagnostics",
    summary="Diagnostics state: current status, timeline, requests and received files",
)
async def station_diagnostics(station_id: str, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    await _station_or_404(hub, station_id)
    async with hub.services.engine.connect() as conn:
        timeline = await firmware_repo.status_timeline(conn, station_id, "diagnostics")
        requests = await firmware_repo.list_diagnostics_requests(conn, station_id)
        files = await firmware_repo.list_diagnostics_files(conn, station_id)
    file_views = []
    for f in files:
        view = present.row(f) or {}
        view.pop("path", None)
        view["downloadPath"] = f"/api/v1/stations/{station_id}/diagnostics/files/{f['id']}"
        file_views.append(view)
    request_views = []
    for r in requests:
        view = present.row(r) or {}
        view.pop("ftpPassword", None)  # it is in the location; not repeated
        view["answered"] = bool(r["answered"])
        request_views.append(view)
    return {
        "stationId": station_id,
        "current": _current(timeline[0] if timeline else None),
        "timeline": present.rows(timeline),
        "requests": request_views,
        "files": file_views,
    }


@router.get(
    "/stations/{station_id}/diagnostics/files/{file_id}",
    summary="Download a diagnostics file the station uploaded",
)
async def download_diagnostics(
    station_id: str, file_id: RowId, hub: Any = Depends(get_hub)
) -> FileResponse:
    async with hub.services.engine.connect() as conn:
        found = await firmware_repo.get_diagnostics_file(conn, file_id)
    if found is None or found["station_id"] != station_id:
        raise HTTPException(404, f"No diagnostics file {file_id} for station {station_id}")
    path = runtime(hub.services).data_dir / found["path"]
    if not path.is_file():
        raise HTTPException(410, "The file is gone from the data directory")
    return FileResponse(path, media_type="application/octet-stream", filename=found["filename"])


# -- campaigns ------------------------------------------------------------------------------


class CampaignCreate(ApiModel):
    name: str = Field("", max_length=100)
    firmwareId: int | None = None
    location: str | None = None
    stations: list[str] = Field(min_length=1, description="Station ids, in rollout order")
    concurrency: int = Field(5, ge=1, le=1000, description="Stations updating at the same time")
    expectedVersion: str | None = Field(
        None,
        max_length=50,
        description="Version reported at boot once installed (default: the image's version)",
    )
    retrieveDate: datetime | None = None
    retries: int | None = Field(None, ge=0)
    retryInterval: int | None = Field(None, ge=0)
    stationTimeout: int = Field(
        3600, ge=1, description="Seconds without progress before a station counts as failed"
    )

    @model_validator(mode="after")
    def check(self) -> "CampaignCreate":
        if (self.location is None) == (self.firmwareId is None):
            raise ValueError("give exactly one of location and firmwareId")
        if len(set(self.stations)) != len(self.stations):
            raise ValueError("stations: each station may appear once")
        return self


async def _campaign_view(hub: Any, campaign_id: int) -> dict[str, Any]:
    async with hub.services.engine.connect() as conn:
        campaign = await firmware_repo.get_campaign(conn, campaign_id)
        if campaign is None:
            raise HTTPException(404, f"No firmware campaign {campaign_id}")
        entries = await firmware_repo.campaign_stations(conn, campaign_id)
    out = present.row(campaign) or {}
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["state"]] = counts.get(e["state"], 0) + 1
    out["counts"] = counts
    out["stations"] = present.rows(entries)
    return out


@router.post("/firmware-campaigns", status_code=201, summary="Start a firmware rollout")
async def create_campaign(body: CampaignCreate, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    rt = runtime(hub.services)
    expected = body.expectedVersion
    location = body.location
    async with hub.services.engine.connect() as conn:
        if body.firmwareId is not None:
            image = await firmware_repo.get_image(conn, body.firmwareId)
            if image is None:
                raise HTTPException(404, f"No firmware image {body.firmwareId}")
            location = rt.firmware_url(image)
            expected = expected or image["version"]
        known = {s["id"] for s in await stations_repo.list_stations(conn)}
    unknown = [s for s in body.stations if s not in known]
    if unknown:
        raise HTTPException(404, f"Unknown stations: {', '.join(unknown)}")
    assert location is not None
    try:
        async with hub.services.engine.begin() as conn:
            campaign = await firmware_repo.create_campaign(
                conn,
                body.stations,
                name=body.name,
                firmware_image_id=body.firmwareId,
                location=location,
                expected_version=expected,
                retrieve_date=body.retrieveDate,
                retries=body.retries,
                retry_interval=body.retryInterval,
                concurrency=body.concurrency,
                station_timeout=body.stationTimeout,
                options={},
            )
    except IntegrityError as exc:
        raise HTTPException(409, "Could not create the campaign") from exc
    rt.wake_campaigns()
    return await _campaign_view(hub, campaign["id"])


@router.get("/firmware-campaigns", summary="Firmware campaigns, newest first")
async def list_campaigns(hub: Any = Depends(get_hub)) -> list[dict[str, Any]]:
    async with hub.services.engine.connect() as conn:
        return present.rows(await firmware_repo.list_campaigns(conn))


@router.get("/firmware-campaigns/{campaign_id}", summary="A campaign with per-station progress")
async def get_campaign(campaign_id: RowId, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    return await _campaign_view(hub, campaign_id)


@router.post(
    "/firmware-campaigns/{campaign_id}/cancel",
    summary="Stop a campaign: scheduled stations are not sent the update",
)
async def cancel(campaign_id: RowId, hub: Any = Depends(get_hub)) -> dict[str, Any]:
    view = await _campaign_view(hub, campaign_id)
    if view["status"] != "running":
        raise HTTPException(409, f"Campaign {campaign_id} is {view['status']}")
    await cancel_campaign(hub.services, campaign_id)
    return {**await _campaign_view(hub, campaign_id), "cancelledAt": utcnow().isoformat()}
