"""Validation against the official OCPP 1.6 JSON schemas shipped in the ``ocpp`` package.

Schemas are compiled to Python code by fastjsonschema on first use (~15 µs for a MeterValues with 9
samples, against ~470 µs for jsonschema), and cached per action and direction.

Storable by construction: OCPP 1.6 integers are 32-bit (the specification's ``integer`` is a signed
32-bit value), but the official schemas give most of them no bounds, so a station could send
``1e20`` as a ``meterStart`` and fail its database write (PostgreSQL refuses it; SQLite stores
anything). Every ``integer`` without bounds gets the int32 range when the schema is compiled, so
the check costs two comparisons per integer inside the validator already running, and breaking it
is a ``PropertyConstraintViolation``. Strings holding NUL are refused at the frame parser
(``frames.py``) for the same reason. Such a violation is :class:`UnstorableValue`: the lenient
policy never lets it through, since processing it would fail at the database anyway."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from watthub.ocppj import fast_schema, struct_schema
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

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


class UnstorableValue(OcppError):
    """A value no database column can hold (an integer beyond 32 bits, a NUL character)."""


def _bound_integers(node: Any) -> None:
    """Give every unbounded ``integer`` of a schema the OCPP 1.6 int32 range, in place."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            node.setdefault("minimum", INT32_MIN)
            node.setdefault("maximum", INT32_MAX)
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)


def _is_int32_bound(exc: fastjsonschema.JsonSchemaValueException) -> bool:
    if exc.rule in ("minimum", "maximum"):
        return exc.rule_definition in (INT32_MIN, INT32_MAX)
    # An integer too long for 64 bits reaches us as a float (1e20): out of range, not a type error.
    value = exc.value
    return (
        exc.rule == "type"
        and exc.rule_definition == "integer"
        and isinstance(value, float)
        and value.is_integer()
        and not INT32_MIN <= value <= INT32_MAX
    )


@cache
def known_actions() -> frozenset[str]:
    names = (p.name for p in resources.files(_SCHEMA_PACKAGE).iterdir())
    return frozenset(
        n[:-5] for n in names if n.endswith(".json") and not n.endswith("Response.json")
    )


@cache
def _schema(schema_name: str) -> dict[str, Any]:
    text = resources.files(_SCHEMA_PACKAGE).joinpath(f"{schema_name}.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    _bound_integers(schema)
    return schema


@cache
def _validator(schema_name: str) -> Validator:
    return fastjsonschema.compile(_schema(schema_name))


@cache
def _fast(action: str, response: bool) -> fast_schema.Check | None:
    """The cheap "certainly valid" check: msgspec types where the schema can be expressed as
    such (``struct_schema.py``), else the hand-written check (``fast_schema.py``)."""
    schema = _schema(f"{action}Response" if response else action)
    return struct_schema.build(schema) or fast_schema.build(schema)


def validate(action: str, payload: dict[str, Any], *, response: bool = False) -> None:
    """Raise :class:`OcppError` with the OCPP 1.6 code when ``payload`` breaks the schema."""
    if action not in known_actions():
        raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"Unknown action {action}")
    fast = _fast(action, response)
    if fast is not None and fast(payload):
        return  # certainly valid; anything else gets the full validator and its exact error
    validator = _validator(f"{action}Response" if response else action)
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_CODES.get(exc.rule or "", ErrorCode.FORMATION_VIOLATION)
        field = (exc.name or "data").removeprefix("data").lstrip(".") or "payload"
        if _is_int32_bound(exc):
            raise UnstorableValue(
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                f"{field} is outside the 32-bit integer range",
                {"field": field},
            ) from None
        raise OcppError(code, exc.message.replace("data.", "", 1), {"field": field}) from None


def unstorable(payload: Any) -> UnstorableValue | None:
    """The first integer beyond 32 bits or string with NUL anywhere in ``payload``.

    For payloads the schema does not fully check: what a lenient station sends after a first
    schema violation (the validator stops at the first), and free-form operator payloads."""
    stack = [(payload, "payload")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return _nul(where)
                stack.append((item, key))
        elif isinstance(value, list):
            stack.extend((item, where) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                return _nul(where)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) and not INT32_MIN <= value <= INT32_MAX:
            if isinstance(value, int) or value.is_integer():
                return UnstorableValue(
                    ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"{where} is outside the 32-bit integer range",
                    {"field": where},
                )
    return None


def _nul(where: str) -> UnstorableValue:
    return UnstorableValue(
        ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
        f"{where} contains a NUL character, which no string may hold",
        {"field": where},
    )


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
        _fast(action, False)
