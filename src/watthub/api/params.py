"""Integer path and query parameters bounded by the column they are looked up in.

An id beyond the column's range cannot exist, yet looking it up fails inside the database driver
(PostgreSQL refuses a 2^70 parameter, SQLite overflows): unbounded, that is a 500. Bounded
here, it is a 422 that names the parameter and the range."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# A row id of a BIGINT column (firmware images, files, campaigns, certificates).
RowId = Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX)]
# An OCPP integer (32-bit), e.g. a chargingProfileId.
OcppIdPath = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)]


def row_id_query(default: int | None = None, alias: str | None = None) -> int | None:
    return Query(default, alias=alias, ge=INT64_MIN, le=INT64_MAX)  # type: ignore[no-any-return]
