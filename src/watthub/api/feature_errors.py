"""HTTP answers for feature operations that send commands themselves (several per request)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from fastapi import HTTPException

from watthub.domain.commands import CommandError
from watthub.gateway import (
    ClusterUnavailable,
    StationCallError,
    StationNotConnected,
    StationTimeout,
)

T = TypeVar("T")


async def guarded(work: Awaitable[T]) -> T:
    try:
        return await work
    except CommandError as exc:
        raise HTTPException(exc.status_code, exc.message) from exc
    except StationNotConnected as exc:
        raise HTTPException(409, str(exc)) from exc
    except StationTimeout as exc:
        raise HTTPException(504, str(exc)) from exc
    except ClusterUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except StationCallError as exc:
        raise HTTPException(
            502, {"message": "The station answered with a CALLERROR", "errorCode": exc.code}
        ) from exc
