"""Declaring a typed command endpoint in one line: body model → OCPP payload → send_command.

(No ``from __future__ import annotations`` here: FastAPI must see the real body type.)"""

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from watthub.api.deps import get_hub, run_command


def command_endpoint(
    router: APIRouter, path: str, action: str, model: type[BaseModel], summary: str
) -> None:
    async def endpoint(
        station_id: str,
        body: model,  # type: ignore[valid-type]
        timeout: float | None = Query(None, gt=0, le=600),
        hub: Any = Depends(get_hub),
    ) -> dict[str, Any]:
        payload = body.model_dump(exclude_none=True, by_alias=True, mode="json")  # type: ignore[attr-defined]
        return await run_command(hub, station_id, action, payload, timeout)

    endpoint.__name__ = f"command_{action}"
    router.post(
        f"/stations/{{station_id}}/{path}", summary=summary, name=action, operation_id=action
    )(endpoint)
