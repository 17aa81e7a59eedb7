"""Validation against the official OCPP 1.6 JSON schemas shipped in the ``ocpp`` package.

Schemas are compiled to Python code by fastjsonschema on first use (~15 µs for a MeterValues with 9
samples, against ~470 µs for jsonschema), and cached per action and direction."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from watthub.ocppj.errors import ErrorCode, OcppError

Validator = Callable[[Any], Any]

# fastjsonschema rule -> OCPP 1.6 error code (OCPP-J §4.2.3).
_RULE_CODES: dict[str, ErrorCode] = {
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMATION_VIOLATION,
    "enum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minLength": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "format": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "pattern": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
}

_SCHEMA_PACKAGE = "ocpp.v16.schemas"


@cache
def known_actions() -> frozenset[str]:
    names = (p.name for p in resources.files(_SCHEMA_PACKAGE).iterdir())
    return frozenset(
        n[:-5] for n in names if n.endswith(".json") and not n.endswith("Response.json")
    )


@cache
def _validator(schema_name: str) -> Validator:
    text = resources.files(_SCHEMA_PACKAGE).joinpath(f"{schema_name}.json").read_text("utf-8")
    return fastjsonschema.compile(json.loads(text))


def validate(action: str, payload: dict[str, Any], *, response: bool = False) -> None:
    """Raise :class:`OcppError` with the OCPP 1.6 code when ``payload`` breaks the schema."""
    if action not in known_actions():
        raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"Unknown action {action}")
    validator = _validator(f"{action}Response" if response else action)
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_CODES.get(exc.rule or "", ErrorCode.FORMATION_VIOLATION)
        field = (exc.name or "data").removeprefix("data").lstrip(".") or "payload"
        raise OcppError(code, exc.message.replace("data.", "", 1), {"field": field}) from None


def problems(action: str, payload: dict[str, Any], *, response: bool = False) -> str | None:
    """The first schema problem as text, or ``None`` — for API input checks."""
    try:
        validate(action, payload, response=response)
    except OcppError as exc:
        return exc.description
    return None


def warm_up(actions: list[str]) -> None:
    for action in actions:
        _validator(action)
