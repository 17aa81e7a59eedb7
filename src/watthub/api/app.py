"""The FastAPI application."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from watthub import __version__

if TYPE_CHECKING:
    from watthub.app import WattHub

# One module per resource or feature; each exposes ``router``.
ROUTE_MODULES = [
    "watthub.api.routes.health",
    "watthub.api.routes.stations",
    "watthub.api.routes.id_tags",
    "watthub.api.routes.transactions",
    "watthub.api.routes.core_commands",
    "watthub.api.routes.generic_ocpp",
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
            content={"detail": "; ".join(problems), "errors": exc.errors()},
        )

    for name in ROUTE_MODULES:
        module = importlib.import_module(name)
        app.include_router(module.router, prefix="/api/v1")
    return app
