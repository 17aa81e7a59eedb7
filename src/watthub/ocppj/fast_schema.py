"""A cheap "certainly valid" check built from the same OCPP 1.6 schema as the full validator.

fastjsonschema's generated code costs ~38 µs for the benchmark's MeterValues (9 sampled values),
most of it per-property bookkeeping (a key set per object, a list scan per enum). The check built
here answers only *True* (the payload certainly passes the full validator) or *False* (not sure):
on False the full validator runs and produces the exact OCPP error code, so error answers never
change. It is therefore written to be at least as strict as fastjsonschema for every keyword it
knows, and a schema node using any keyword it does not know gets a check that always says False.
``tests/unit/test_fast_schema.py`` checks "fast accepts => full accepts" on mutations of every
schema's payloads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema

Check = Callable[[Any], bool]

# Keywords without effect here: descriptions, and ``additionalProperties`` on a node whose type is
# not object (the official schemas put it on strings; it applies to objects only).
_ANNOTATIONS = frozenset({"$schema", "$id", "id", "title", "description", "javaType", "comment"})
_SCALAR_EXTRA = frozenset({"additionalProperties"})
_KNOWN = _ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "enum",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "format",
}


def _never(value: Any) -> bool:
    return False


def build(schema: dict[str, Any]) -> Check | None:
    """The fast check of ``schema``, or ``None`` when it could never say True."""
    check = _node(schema)
    return None if check is _never else check


def _node(node: Any) -> Check:
    if not isinstance(node, dict) or not node.keys() <= _KNOWN:
        return _never
    kind = node.get("type")
    if kind == "object":
        return _object(node)
    if kind == "array":
        return _array(node)
    if kind == "string":
        return _string(node)
    if kind == "integer":
        return _integer(node)
    if kind == "number":
        return _number(node)
    if kind == "boolean" and node.keys() <= _ANNOTATIONS | _SCALAR_EXTRA | {"type"}:
        return lambda value: type(value) is bool
    return _never


def _object(node: dict[str, Any]) -> Check:
    if not node.keys() <= _ANNOTATIONS | {"type", "properties", "required", "additionalProperties"}:
        return _never
    extra = node.get("additionalProperties", True)
    if extra not in (True, False):
        return _never
    # Plain strings and string enums are checked inline (a frozenset of the allowed values, or
    # ``str``): a call per property is most of the cost of a sampled value.
    props: dict[str, Check | frozenset[str] | type[str]] = {}
    for name, sub in (node.get("properties") or {}).items():
        props[name] = _inline(sub) or _node(sub)
    required = frozenset(node.get("required") or ())
    closed = extra is False

    def check(value: Any) -> bool:
        if type(value) is not dict or not required <= value.keys():
            return False
        for key, item in value.items():
            sub = props.get(key)
            if sub is None:
                if closed:
                    return False
            elif sub is str:
                if type(item) is not str:
                    return False
            elif type(sub) is frozenset:
                if type(item) is not str or item not in sub:
                    return False
            elif not sub(item):  # type: ignore[operator]
                return False
        return True

    return check


def _inline(node: Any) -> frozenset[str] | type[str] | None:
    if not isinstance(node, dict) or node.get("type") != "string":
        return None
    if not node.keys() <= _ANNOTATIONS | _SCALAR_EXTRA | {"type", "enum"}:
        return None
    enum = node.get("enum")
    if enum is None:
        return str
    return frozenset(enum) if all(isinstance(v, str) for v in enum) else None


def _array(node: dict[str, Any]) -> Check:
    if not node.keys() <= _ANNOTATIONS | {"type", "items", "minItems", "maxItems"}:
        return _never
    items = node.get("items", {})
    item = _node(items) if items else None
    low = node.get("minItems", 0)
    high = node.get("maxItems")

    def check(value: Any) -> bool:
        if type(value) is not list or len(value) < low:
            return False
        if high is not None and len(value) > high:
            return False
        return item is None or all(map(item, value))

    return check


def _string(node: dict[str, Any]) -> Check:
    if not node.keys() <= _ANNOTATIONS | _SCALAR_EXTRA | {
        "type",
        "enum",
        "maxLength",
        "minLength",
        "format",
    }:
        return _never
    if "format" in node:
        if "enum" in node:
            return _never
        # Formats are checked by fastjsonschema itself (its own patterns): compiled for this one
        # string node, so the result is the full validator's by construction.
        leaf = fastjsonschema.compile(node)

        def formatted(value: Any) -> bool:
            try:
                leaf(value)
            except fastjsonschema.JsonSchemaValueException:
                return False
            return True

        return formatted
    low = node.get("minLength", 0)
    high = node.get("maxLength")
    top = high if high is not None else float("inf")
    enum = node.get("enum")
    if enum is not None:
        if not all(isinstance(v, str) for v in enum):
            return _never
        allowed = frozenset(v for v in enum if low <= len(v) <= top)
        return lambda value: type(value) is str and value in allowed
    if high is None and not low:
        return lambda value: type(value) is str
    return lambda value: type(value) is str and low <= len(value) <= top


def _bounds(node: dict[str, Any]) -> tuple[float, float]:
    low, high = node.get("minimum", float("-inf")), node.get("maximum", float("inf"))
    return low, high


def _integer(node: dict[str, Any]) -> Check:
    if not node.keys() <= _ANNOTATIONS | _SCALAR_EXTRA | {"type", "minimum", "maximum"}:
        return _never
    low, high = _bounds(node)
    return lambda value: type(value) is int and low <= value <= high


def _number(node: dict[str, Any]) -> Check:
    if not node.keys() <= _ANNOTATIONS | _SCALAR_EXTRA | {"type", "minimum", "maximum"}:
        return _never
    low, high = _bounds(node)
    return lambda value: (type(value) is int or type(value) is float) and low <= value <= high
