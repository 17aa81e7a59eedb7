"""``GET /metrics`` (Prometheus text format), ``GET /health/live`` and ``GET /health/ready``.

Mounted at the root of the API port, outside ``/api/v1`` and without the API's bearer token:
scrapers and load balancers do not hold operator tokens. ``/metrics`` asks for
``metrics_token`` when one is configured; the health endpoints never ask (they reveal nothing but
up/down and the failing dependency). With ``metrics_port`` set, the same routes are also served
alone on that internal port (:func:`create_app`), see docs/cluster.md."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from watthub import __version__
from watthub.api.deps import get_hub
from watthub.observability import collect

if TYPE_CHECKING:
    from watthub.app import WattHub

public_router = APIRouter(tags=["observability"])


def _check_metrics_token(request: Request, hub: WattHub) -> None:
    expected = hub.settings.metrics_token
    if not expected:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise HTTPException(
            401, "GET /metrics needs the metrics token", headers={"WWW-Authenticate": "Bearer"}
        )


@public_router.get(
    "/metrics",
    summary="Prometheus metrics of this node (text format; metrics_token if configured)",
    response_class=Response,
    responses={200: {"content": {collect.CONTENT_TYPE: {}}}},
)
async def metrics(request: Request, hub: Any = Depends(get_hub)) -> Response:
    if not hub.settings.metrics_enabled:
        raise HTTPException(404, "Metrics are switched off (metrics_enabled = false)")
    _check_metrics_token(request, hub)
    return Response(await collect.render(hub), media_type=collect.CONTENT_TYPE)


@public_router.get("/health/live", summary="Liveness: the process answers (no auth)")
async def live(hub: Any = Depends(get_hub)) -> dict[str, Any]:
    return {"status": "live", "version": __version__, "node": hub.node_id}


@public_router.get(
    "/health/ready",
    summary="Readiness: 200 when the database (and Redis in a cluster) answer, else 503 (no auth)",
    responses={503: {"description": "Not ready; `reason` names the failing dependency"}},
)
async def ready(hub: Any = Depends(get_hub)) -> JSONResponse:
    ok, body = await hub.services.health.readiness()
    body["node"] = hub.node_id
    return JSONResponse(body, status_code=200 if ok else 503)


def create_app(hub: WattHub) -> FastAPI:
    """The internal listener (``metrics_port``): these routes only, no API, no docs."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.hub = hub
    app.include_router(public_router)
    return app
