"""The fast schema check may only say "valid" where the full validator agrees.

For every OCPP 1.6 schema (requests and responses) a payload is generated from the schema, every
value in it is replaced in turn by values of the wrong type, range, length, enum or format, every
key is removed, an unknown key is added; wherever the fast check accepts, fastjsonschema (the
validator that decides the error codes) must accept too."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from watthub.ocppj import fast_schema, schemas, struct_schema

NAMES = sorted(
    p.name[:-5] for p in resources.files("ocpp.v16.schemas").iterdir() if p.name.endswith(".json")
)
TIMESTAMP = "2026-11-29T06:00:00.000Z"
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    1.5,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**63,
    1e20,
    "",
    "x",
    "x" * 21,
    "x" * 51,
    "x" * 513,
    "2026-13-01T00:00:00Z",
    "2026-11-29 06:00:00",
    "2026-11-29T06:00:00",
    "2026-11-29t06:00:00.5z",
    "2026-11-29T06:00:00+0100",
    "not a date",
    TIMESTAMP,
    "http://example.com/x",
    [],
    [{}],
    {},
    {"x": 1},
]


def _instances(node: dict[str, Any], full: bool) -> Iterator[Any]:
    """Valid values for ``node``: every enum value, every property when ``full``."""
    kind = node.get("type")
    if "enum" in node:
        yield from node["enum"]
    elif kind == "object":
        props = node.get("properties", {})
        keys = list(props) if full else list(node.get("required", []))
        yield {key: next(_instances(props[key], full)) for key in keys}
    elif kind == "array":
        item = next(_instances(node.get("items", {"type": "string"}), full))
        yield [item] * max(node.get("minItems", 1), 1)
    elif kind == "string":
        yield {"date-time": TIMESTAMP, "uri": "http://example.com/x"}.get(node.get("format"), "ab")
    elif kind == "integer":
        yield from (node.get("minimum", 0), node.get("maximum", 1), 7)
    elif kind == "number":
        yield 1.5 if "multipleOf" not in node else 2
    elif kind == "boolean":
        yield True
    else:
        yield "ab"


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _mutations(payload: Any) -> Iterator[Any]:
    for path in _paths(payload):
        for odd in ODD_VALUES:
            if not path:
                yield odd
                continue
            changed = copy.deepcopy(payload)
            parent = changed
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = odd
            yield changed
        target = payload
        for step in path:
            target = target[step]
        if isinstance(target, dict):
            for key in target:
                removed = copy.deepcopy(payload)
                holder = removed
                for step in path:
                    holder = holder[step]
                del holder[key]
                yield removed
            added = copy.deepcopy(payload)
            holder = added
            for step in path:
                holder = holder[step]
            holder["unknownKey"] = "x"
            yield added
        if isinstance(target, list):
            grown = copy.deepcopy(payload)
            holder = grown
            for step in path:
                holder = holder[step]
            holder.extend(copy.deepcopy(holder) * 3)
            yield grown


def _full_accepts(name: str, payload: Any) -> bool:
    try:
        schemas._validator(name)(payload)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def _split(name: str) -> tuple[str, bool]:
    return (name[:-8], True) if name.endswith("Response") else (name, False)


FAST_NAMES = [name for name in NAMES if schemas._fast(*_split(name)) is not None]


def test_only_schemas_with_references_lack_a_fast_path() -> None:
    """The fast check refuses to guess on keywords it does not know ($ref: the security
    extension's schemas); every other schema has one."""
    for name in set(NAMES) - set(FAST_NAMES):
        assert "$ref" in str(schemas._schema(name)), name
    assert len(FAST_NAMES) > len(NAMES) // 2


BUILDERS = {"struct": struct_schema.build, "hand-written": fast_schema.build}
CHECKS = [
    (builder, name)
    for builder, build in BUILDERS.items()
    for name in NAMES
    if build(schemas._schema(name)) is not None
]


@pytest.mark.parametrize(("builder", "name"), CHECKS)
def test_fast_check_never_accepts_what_the_validator_refuses(builder: str, name: str) -> None:
    schema = schemas._schema(name)
    fast = BUILDERS[builder](schema)
    assert fast is not None
    checked = 0
    for full in (False, True):
        for payload in _instances(schema, full):
            assert _full_accepts(name, payload), payload  # the generator makes valid payloads
            for candidate in [payload, *_mutations(payload)]:
                if fast(candidate):
                    assert _full_accepts(name, candidate), candidate
                checked += 1
    assert checked > 0


HOT = ["Heartbeat", "StatusNotification", "MeterValues", "Authorize", "StartTransaction"]


@pytest.mark.parametrize("action", [*HOT, "StopTransaction", "BootNotification"])
def test_hot_actions_have_a_fast_path_that_accepts_valid_payloads(action: str) -> None:
    fast = schemas._fast(action, False)
    assert fast is not None
    for full in (False, True):
        for payload in _instances(schemas._schema(action), full):
            assert fast(payload)


@pytest.mark.parametrize("action", [*HOT, "StopTransaction", "BootNotification"])
def test_hot_actions_are_checked_by_msgspec_types(action: str) -> None:
    """The cheaper of the two checks is the one the hot actions get."""
    assert struct_schema.build(schemas._schema(action)) is not None
    for full in (False, True):
        for payload in _instances(schemas._schema(action), full):
            assert struct_schema.build(schemas._schema(action))(payload)  # type: ignore[misc]


def test_a_refused_payload_still_gets_the_exact_error_code() -> None:
    payload = {
        "connectorId": 1,
        "meterValue": [{"timestamp": TIMESTAMP, "sampledValue": [{"value": "1", "unit": "Wh!"}]}],
    }
    with pytest.raises(schemas.OcppError) as caught:
        schemas.validate("MeterValues", payload)
    assert caught.value.code == "PropertyConstraintViolation"
    payload["connectorId"] = 2**31
    with pytest.raises(schemas.UnstorableValue):
        schemas.validate("MeterValues", payload)
