"""The "certainly valid" check of an OCPP 1.6 schema as msgspec types, checked in C.

Same contract as :mod:`watthub.ocppj.fast_schema` (True: the payload certainly passes the full
validator; False: not sure, the full validator runs and gives the exact OCPP error), at a quarter
of its cost for the benchmark's MeterValues (2.3 against 8.6 µs): the schema becomes msgspec
``Struct`` types (closed objects forbid unknown fields, optional properties may be absent but not
``null``), constraints become ``msgspec.Meta`` bounds, string enums ``Literal`` types, and a
``date-time`` string the very pattern fastjsonschema checks it with (draft 4, the schemas' own).
msgspec is at least as strict as the schema everywhere used here (no bool for an integer, no
float for an integer, no coercion from strings); a schema using anything else gets no check
(``None``) and the hand-written fast check is used. ``tests/unit/test_fast_schema.py`` checks
"accepts => the full validator accepts" on mutations of every schema's payloads."""

from __future__ import annotations

import itertools
import keyword
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from fastjsonschema.draft04 import CodeGeneratorDraft04

Check = Callable[[Any], bool]

_DATE_TIME = CodeGeneratorDraft04.FORMAT_REGEXS["date-time"]
_ANNOTATIONS = frozenset({"$schema", "$id", "id", "title", "description", "javaType", "comment"})
# ``additionalProperties`` on a non-object node has no effect (the official schemas put it on
# strings).
_SCALAR = _ANNOTATIONS | {"type", "additionalProperties"}
_names = itertools.count()


class _Unsupported(Exception):
    """A schema node msgspec cannot check at least as strictly."""


def build(schema: dict[str, Any]) -> Check | None:
    try:
        kind = _type(schema)
    except _Unsupported:
        return None
    convert, error = msgspec.convert, msgspec.ValidationError

    def check(payload: Any) -> bool:
        try:
            convert(payload, kind)
        except error:
            return False
        return True

    return check


def _type(node: Any) -> Any:
    build = _BUILDERS.get(node.get("type")) if isinstance(node, dict) else None
    if build is None:
        raise _Unsupported
    return build(node)


def _number(node: dict[str, Any]) -> Any:
    _only(node, _SCALAR | {"minimum", "maximum"})
    bounds = {}
    if "minimum" in node:
        bounds["ge"] = node["minimum"]
    if "maximum" in node:
        bounds["le"] = node["maximum"]
    base = int if node["type"] == "integer" else float
    return Annotated[base, msgspec.Meta(**bounds)] if bounds else base


def _boolean(node: dict[str, Any]) -> Any:
    _only(node, _SCALAR)
    return bool


def _only(node: dict[str, Any], known: frozenset[str] | set[str]) -> None:
    if not node.keys() <= known:
        raise _Unsupported


def _object(node: dict[str, Any]) -> Any:
    _only(node, _ANNOTATIONS | {"type", "properties", "required", "additionalProperties"})
    extra = node.get("additionalProperties", True)
    if extra not in (True, False):
        raise _Unsupported
    required = set(node.get("required") or ())
    properties = node.get("properties") or {}
    if not required <= properties.keys():
        raise _Unsupported  # a required name without a schema: not expressed here
    fields: list[Any] = []
    for name, sub in properties.items():
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise _Unsupported
        kind = _type(sub)
        if name in required:
            fields.append((name, kind))
        else:
            fields.append((name, kind | msgspec.UnsetType, msgspec.UNSET))
    # Required fields first: a struct's fields without defaults cannot follow defaulted ones.
    fields.sort(key=len)
    return msgspec.defstruct(
        f"OcppObject{next(_names)}", fields, forbid_unknown_fields=extra is False
    )


def _array(node: dict[str, Any]) -> Any:
    _only(node, _ANNOTATIONS | {"type", "items", "minItems", "maxItems"})
    items = node.get("items")
    if not isinstance(items, dict) or not items:
        raise _Unsupported  # untyped items: not expressed here
    bounds = {}
    if "minItems" in node:
        bounds["min_length"] = node["minItems"]
    if "maxItems" in node:
        bounds["max_length"] = node["maxItems"]
    kind = list[_type(items)]  # type: ignore[misc]
    return Annotated[kind, msgspec.Meta(**bounds)] if bounds else kind


def _string(node: dict[str, Any]) -> Any:
    _only(node, _SCALAR | {"enum", "maxLength", "minLength", "format"})
    bounds: dict[str, Any] = {}
    if "minLength" in node:
        bounds["min_length"] = node["minLength"]
    if "maxLength" in node:
        bounds["max_length"] = node["maxLength"]
    if "format" in node:
        if node["format"] != "date-time" or "enum" in node:
            raise _Unsupported
        bounds["pattern"] = _DATE_TIME
    if "enum" in node:
        values = node["enum"]
        if not values or not all(isinstance(v, str) for v in values):
            raise _Unsupported
        low, high = bounds.get("min_length", 0), bounds.get("max_length", float("inf"))
        allowed = tuple(v for v in values if low <= len(v) <= high)
        if not allowed:
            raise _Unsupported
        return Literal[allowed]  # type: ignore[valid-type]
    return Annotated[str, msgspec.Meta(**bounds)] if bounds else str


_BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "object": _object,
    "array": _array,
    "string": _string,
    "integer": _number,
    "number": _number,
    "boolean": _boolean,
}
