"""The FastAPI application."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from watthub import __version__
from watthub.api.authn import authenticator
from watthub.api.deps import require_role
from watthub.api.guard import AuthGuard, RouteTable
from watthub.api.nul_guard import guard_routes
from watthub.api.present import camel

if TYPE_CHECKING:
    from watthub.app import WattHub

# One module per resource or feature; each exposes ``router`` (mounted under /api/v1) and may
# expose ``public_router`` (mounted at the root, no authentication: what stations fetch).
# ``router`` needs a user or token with a role: ``ROLES = (read, write)`` in the module,
# default DEFAULT_ROLES (reads for viewers, changes for operators); ``ROLES = None`` leaves the
# routes public unless a route declares ``require_role`` itself (health, login).
ROUTE_MODULES = [
    "watthub.api.routes.health",
    "watthub.api.routes.auth",
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
    "watthub.api.routes.users",
    "watthub.api.routes.audit",
    "watthub.api.routes.console",
]
DEFAULT_ROLES = ("viewer", "operator")


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
    name = str(err["loc"][-1]) if err["loc"] else ""
    if err["type"] == "extra_forbidden" and "_" in name:
        # The usual mistake of a client written for the old snake_case fields: say the new name.
        return f"{where}: unknown field (fields are camelCase: {camel(name)})"
    return f"{where}: {err['msg']}"


async def camel_case_query(request: Request) -> None:
    """An old client's ``?station_id=`` would otherwise be ignored silently (and, on a list,
    return everything unfiltered): refuse it and name the camelCase parameter instead."""
    snake = [name for name in request.query_params if "_" in name]
    if snake:
        hints = ", ".join(f"{name} → {camel(name)}" for name in snake)
        raise HTTPException(422, f"Query parameters are camelCase: {hints}")


def create_api(hub: WattHub) -> FastAPI:
    app = FastAPI(
        title="WattHub operator API",
        version=__version__,
        description="Operate an OCPP 1.6J charging network: stations, id tags, transactions "
        "and every command a central system can send.",
    )
    app.state.hub = hub
    if getattr(hub, "services", None) is not None:
        authenticator(app)  # subscribes to invalidations now (without a started hub: on first use)
    # Authenticates and caps bodies from the headers, before FastAPI reads a byte (guard.py).
    app.add_middleware(AuthGuard)
    app.state.guard_routes = guarded = RouteTable()

    @app.exception_handler(RequestValidationError)
    async def readable_validation_error(
        _request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        problems = [_problem(err) for err in exc.errors()]
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
            roles = getattr(module, "ROLES", DEFAULT_ROLES)
            requirement = None if roles is None else require_role(roles[1], roles[0])
            dependencies = [] if requirement is None else [Depends(requirement)]
            # Only the operator API: the file routes for stations are not ours to restyle.
            dependencies.append(Depends(camel_case_query))
            app.include_router(router, prefix="/api/v1", dependencies=dependencies)
            guarded.add(router.routes, "/api/v1", requirement)
        public = getattr(module, "public_router", None)
        if public is not None:
            app.include_router(public)
            guarded.add(public.routes, "", None)
    guard_routes(app)
    # The operator console: static pages at / (after the API, so /api and /docs win).
    from watthub.console import mount

    mount(app)
    return app
