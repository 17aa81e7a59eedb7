"""The FastAPI application."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from watthub import __version__
from watthub.api.nul_guard import guard_routes

if TYPE_CHECKING:
    from watthub.app import WattHub

# One module per resource or feature; each exposes ``router`` (mounted under /api/v1, bearer
# token) and may expose ``public_router`` (mounted at the root, no token: what stations fetch).
ROUTE_MODULES = [
    "watthub.api.routes.health",
    "watthub.api.routes.stations",
    "watthub.api.routes.id_tags",
    "watthub.api.routes.transactions",
    "watthub.api.routes.core_commands",
    "watthub.api.routes.generic_ocpp",
    "watthub.api.routes.local_list",
    "watthub.api.routes.reservations",
    "watthub.api.routes.remote_trigger",
    "watthub.api.routes.smart_charging",
    "watthub.api.routes.sites",
    "watthub.api.routes.firmware",
    "watthub.api.routes.files",
    "watthub.api.routes.security",
]


def create_api(hub: WattHub) -> FastAPI:
    app = FastAPI(
        title="WattHub operator API",
        version=__version__,
        description="Operate an OCPP 1.6J charging network: stations, id tags, transactions "
        "and every command a central system can send.",
    )
    app.state.hub = hub
    app.state.token_cache = {}

    @app.exception_handler(RequestValidationError)
    async def readable_validation_error(
        _request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}"
            for err in exc.errors()
        ]
        return JSONResponse(
            status_code=422,
            # jsonable_encoder: a model validator's error context holds the exception object.
            content={"detail": "; ".join(problems), "errors": jsonable_encoder(exc.errors())},
        )

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def unstorable_value(_request: Request, exc: Exception) -> JSONResponse:
        # The safety net behind the bounded parameters (api/params.py): a value no column can
        # hold (a number beyond its range) is the client's mistake, a 422, never a 500.
        return JSONResponse(
            status_code=422,
            content={"detail": "A value is out of the range the database can store"},
        )

    for name in ROUTE_MODULES:
        module = importlib.import_module(name)
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router, prefix="/api/v1")
        public = getattr(module, "public_router", None)
        if public is not None:
            app.include_router(public)
    guard_routes(app)
    return app
