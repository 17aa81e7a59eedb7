"""Local Authorization List Management (OCPP 1.6 §3.5.2, §5.10, §5.15; errata §3.52).

WattHub decides what each station's list should hold (all tags, or the tags of some parentIdTag
groups: a per-station setting) and remembers the version and content the station last
*accepted*. Synchronising sends a Full list or only the differences, in parts when the station's
``SendLocalListMaxLength`` is smaller than the update."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watthub.domain.authorization import tag_info
from watthub.domain.commands import InvalidCommand, UnknownStation, send_command
from watthub.domain.context import Services
from watthub.domain.registry import after_command, before_command
from watthub.ocppj import schemas
from watthub.storage import local_list_repo, stations_repo, tags_repo

log = logging.getLogger("watthub.local_list")

# Set inside a Full resend, so a failing part of it does not start yet another resend.
_RESENDING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "local_list_resend", default=False
)


def in_scope(tag: dict[str, Any], groups: list[str] | None) -> bool:
    if groups is None:
        return True
    wanted = {g.casefold() for g in groups}
    parent = (tag["parent_id_tag"] or "").casefold()
    return parent in wanted or tag["id_tag_norm"] in wanted


async def desired_list(conn: AsyncConnection, groups: list[str] | None) -> dict[str, Any]:
    """{idTag: idTagInfo} the station should hold."""
    return {
        t["id_tag"]: tag_info(t) for t in await tags_repo.list_tags(conn) if in_scope(t, groups)
    }


def differences(current: dict[str, Any], desired: dict[str, Any]) -> list[dict[str, Any]]:
    """Differential entries: changed/new tags with idTagInfo, removed tags without (= delete)."""
    entries = [
        {"idTag": tag, "idTagInfo": info}
        for tag, info in desired.items()
        if current.get(tag) != info
    ]
    entries += [{"idTag": tag} for tag in current if tag not in desired]
    return entries


def next_version(state: dict[str, Any]) -> int:
    """Strictly above anything sent, accepted or reported; never 0 or -1."""
    return (
        max(state["version"] or 0, state["last_sent_version"], state["reported_version"] or 0) + 1
    )


def apply(content: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    entries = payload.get("localAuthorizationList") or []
    if payload["updateType"] == "Full":
        return {e["idTag"]: e["idTagInfo"] for e in entries if "idTagInfo" in e}
    updated = dict(content)
    for entry in entries:
        if "idTagInfo" in entry:
            updated[entry["idTag"]] = entry["idTagInfo"]
        else:
            updated.pop(entry["idTag"], None)
    return updated


@before_command("SendLocalList")
async def assign_version(
    services: Services, station_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    requested = payload.get("listVersion")
    # Checked here, before the write that records it: an operator's mistake is a 422, never a
    # failed database write (with its error line) nor a number the column cannot hold.
    if requested is not None and (
        type(requested) is not int or not 1 <= requested <= schemas.INT32_MAX
    ):
        raise InvalidCommand(
            f"listVersion must be an integer from 1 to {schemas.INT32_MAX} (0 and -1 are "
            "reserved for 'empty' and 'not supported', OCPP 1.6 errata §3.52)"
        )

    async def op(conn: AsyncConnection) -> dict[str, Any]:
        state = await local_list_repo.get_state(conn, station_id)
        version = requested if requested is not None else next_version(state)
        await local_list_repo.update_state(
            conn, station_id, last_sent_version=max(state["last_sent_version"], version)
        )
        return {**payload, "listVersion": version}

    return await services.writer.run(op)


@after_command("SendLocalList")
async def record_send(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    status = answer.get("status")

    async def op(conn: AsyncConnection) -> None:
        state = await local_list_repo.get_state(conn, station_id)
        values: dict[str, Any] = {"last_status": status, "last_update_type": sent["updateType"]}
        if status == "Accepted":
            values.update(
                version=sent["listVersion"],
                content=apply(state["content"] or {}, sent),
                supported=True,
            )
        elif status == "NotSupported":
            values["supported"] = False
        await local_list_repo.update_state(conn, station_id, **values)

    await services.writer.run(op)
    if status in ("VersionMismatch", "Failed") and sent["updateType"] == "Differential":
        if not _RESENDING.get():
            # Spec §6.41: retry with the Full list. In its own task: the operator's request
            # returns the station's answer to the differential now.
            _spawn(services, _resend_full(services, station_id))


@after_command("GetLocalListVersion")
async def record_version(
    services: Services, station_id: str, sent: dict[str, Any], answer: dict[str, Any]
) -> None:
    reported = answer.get("listVersion")

    async def op(conn: AsyncConnection) -> None:
        values: dict[str, Any] = {"reported_version": reported}
        if reported == -1:
            values["supported"] = False
        else:
            values["supported"] = True
            if reported == 0:  # the station's list is empty, whatever we believed
                values.update(version=0, content={})
        await local_list_repo.update_state(conn, station_id, **values)

    await services.writer.run(op)


def _spawn(services: Services, coro: Any) -> None:
    tasks: set[asyncio.Task[Any]] = services.features.setdefault("local_list_tasks", set())
    task = asyncio.create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _resend_full(services: Services, station_id: str) -> None:
    _RESENDING.set(True)
    try:
        await synchronise(services, station_id, "Full")
    except Exception as exc:  # logged, never raised into nobody's hands
        log.warning("Full local list resend to %s failed: %s", station_id, exc)


async def synchronise(
    services: Services,
    station_id: str,
    update_type: str = "auto",
    id_tags: list[str] | None = None,
) -> dict[str, Any]:
    """Bring the station's list to what WattHub wants.

    ``auto``: a Differential when the station's accepted content is known, else Full.
    ``id_tags``: a manual update of just these tags (unknown tags are deleted in a Differential).
    Returns the parts sent with the station's answers. One synchronisation per station at a
    time, cluster-wide: two would compute their differences from the same accepted state."""
    async with services.leases.lock(f"local-list:{station_id}", ttl=120):
        return await _synchronise(services, station_id, update_type, id_tags)


async def _synchronise(
    services: Services, station_id: str, update_type: str, id_tags: list[str] | None
) -> dict[str, Any]:
    async with services.engine.connect() as conn:
        if await stations_repo.get_station(conn, station_id) is None:
            raise UnknownStation(f"Station {station_id} is not registered")
        state = await local_list_repo.get_state(conn, station_id)
        desired = await desired_list(conn, state["groups"])
        limit = await local_list_repo.max_length(conn, station_id)
        picked: dict[str, dict[str, Any] | None] = {}
        for tag in id_tags or ():
            row = await tags_repo.get_tag(conn, tag)
            picked[row["id_tag"] if row else tag] = tag_info(row) if row else None
    known = state["content"] is not None and state["version"] is not None
    if update_type == "auto":
        update_type = "Differential" if known else "Full"
    if id_tags is not None:
        if update_type == "Full":
            unknown = [t for t, info in picked.items() if info is None]
            if unknown:
                raise InvalidCommand(f"Unknown id tags for a Full list: {', '.join(unknown)}")
        entries = [
            {"idTag": t, "idTagInfo": info} if info is not None else {"idTag": t}
            for t, info in picked.items()
        ]
    elif update_type == "Full":
        entries = [{"idTag": t, "idTagInfo": info} for t, info in desired.items()]
    else:
        entries = differences(state["content"] or {}, desired)
        if not entries:
            return {"updateType": update_type, "upToDate": True, "parts": []}
    size = limit or max(len(entries), 1)
    chunks = [entries[i : i + size] for i in range(0, len(entries), size)] or [[]]
    parts = []
    for number, chunk in enumerate(chunks):
        # A Full list in parts: the first part replaces, the following ones add.
        kind = update_type if number == 0 else "Differential"
        payload = {"updateType": kind, "localAuthorizationList": chunk}
        answer = await send_command(services, station_id, "SendLocalList", payload)
        parts.append({"updateType": kind, "entries": len(chunk), "status": answer["status"]})
        if answer["status"] != "Accepted":
            break
    done = all(p["status"] == "Accepted" for p in parts)
    return {"updateType": update_type, "upToDate": done, "parts": parts}


async def describe(conn: AsyncConnection, station_id: str) -> dict[str, Any]:
    """What an operator sees: the setting, the accepted list and whether it is out of date."""
    state = await local_list_repo.get_state(conn, station_id)
    desired = await desired_list(conn, state["groups"])
    return _summary(state, desired)


def _summary(state: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    content = state["content"]
    return {
        "stationId": state["station_id"],
        "scope": "all" if state["groups"] is None else {"groups": state["groups"]},
        "version": state["version"],
        "reportedVersion": state["reported_version"],
        "supported": state["supported"],
        "lastUpdateType": state["last_update_type"],
        "lastStatus": state["last_status"],
        "lastSentVersion": state["last_sent_version"],
        "entries": content,
        "desiredEntries": len(desired),
        "outOfDate": state["supported"] is not False and content != desired,
        "pendingChanges": len(differences(content or {}, desired)),
    }


async def out_of_date(conn: AsyncConnection) -> list[dict[str, Any]]:
    states = await local_list_repo.list_states(conn)
    summaries = []
    cache: dict[str, dict[str, Any]] = {}
    for station in await stations_repo.list_stations(conn):
        state = states.get(station["id"]) or await local_list_repo.get_state(conn, station["id"])
        key = repr(state["groups"])
        if key not in cache:
            cache[key] = await desired_list(conn, state["groups"])
        summary = _summary(state, cache[key])
        if summary["outOfDate"]:
            summary.pop("entries")
            summaries.append(summary)
    return summaries


async def set_scope(conn: AsyncConnection, station_id: str, groups: list[str] | None) -> None:
    await local_list_repo.update_state(conn, station_id, groups=groups)
