"""Build a JSON value that matches a JSON schema, or one that deliberately does not.

Covers what structured-output requests use in practice: objects with properties and
`required`, strings (with length bounds), integers and numbers (with bounds), booleans, null,
arrays (with item counts), `enum`, `const`, `anyOf`/`oneOf`/`allOf`, and local `$ref`s into
`$defs`/`definitions` as pydantic emits them. Every value it builds is then checked with
`jsonschema`, so a keyword the builder cannot satisfy (a `pattern`, `uniqueItems`, ...) gives a
`SchemaError` naming it rather than a "valid" value that is not.
"""

from __future__ import annotations

import math
from typing import Any

from stillroom.models.llms.json_schema import schema_errors

MAX_DEPTH = 16
"""Nesting depth past which optional properties and items are left out (recursive schemas)."""


class SchemaError(ValueError):
    """A schema the generator cannot satisfy (a `$ref` it cannot resolve, endless recursion)."""


def instance_for(schema: dict[str, Any], text: str, index: int = 0) -> Any:
    """A value valid for `schema`: strings are `text`, enums pick entry `index` (modulo size).

    Raises `SchemaError` when the schema asks for more than the builder knows how to satisfy.
    """
    value = _Builder(schema, text, index).build(schema, 0)
    try:
        problems = schema_errors(value, schema)
    except ValueError as exc:
        raise SchemaError(str(exc)) from exc
    if problems:
        raise SchemaError(f"the value built for it breaks it: {'; '.join(problems[:3])}")
    return value


def invalid_instance_for(schema: dict[str, Any], text: str) -> Any:
    """A JSON value that parses but breaks `schema`.

    For an object with required properties the first required one is left out; for an object
    with only optional properties the first one with a type constraint gets a value of another
    JSON type; anything else becomes a value of a JSON type the schema does not allow. A
    schema that accepts any value cannot be broken: it gets an object it happens to accept.
    """
    builder = _Builder(schema, text, 0)
    resolved = builder.resolve(schema)
    if _type_of(resolved) == "object":
        value = builder.build(resolved, 0)
        required = [name for name in resolved.get("required", []) if name in value]
        if required:
            del value[required[0]]
            return value
        for name, sub in resolved.get("properties", {}).items():
            wrong = _wrong_value(builder, sub)
            if wrong is not _ANYTHING_GOES:
                value[name] = wrong
                return value
        return [text]
    wrong = _wrong_value(builder, resolved)
    return {"unexpected": text} if wrong is _ANYTHING_GOES else wrong


_ANYTHING_GOES = object()
_SAMPLES: tuple[tuple[set[str], Any], ...] = (
    ({"object"}, {"unexpected": True}),
    ({"integer", "number"}, 12345),
    ({"string"}, "unexpected"),
    ({"array"}, ["unexpected"]),
    ({"boolean"}, True),
)
"""One value per JSON type, with the schema types that accept it."""


def _wrong_value(builder: _Builder, schema: dict[str, Any]) -> Any:
    """A value of a JSON type `schema` does not allow, or `_ANYTHING_GOES` if it allows all."""
    allowed = _allowed_types(builder, schema)
    if allowed is None:
        return _ANYTHING_GOES
    return next((value for accepted, value in _SAMPLES if not accepted & allowed), _ANYTHING_GOES)


def _allowed_types(builder: _Builder, schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema accepts, or None when it does not constrain the type."""
    schema = builder.resolve(schema)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            kinds: set[str] = set()
            for option in schema[key]:
                option_kinds = _allowed_types(builder, option)
                if option_kinds is None:
                    return None
                kinds |= option_kinds
            return kinds
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return {_json_type(v) for v in values}
    if "type" in schema:
        return set(schema["type"]) if isinstance(schema["type"], list) else {schema["type"]}
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else "object"


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind:
        return str(kind)
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


class _Builder:
    def __init__(self, root: dict[str, Any], text: str, index: int) -> None:
        self.root = root
        self.text = text
        self.index = index

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Follow `$ref`s and merge `allOf`, so the result describes one value directly."""
        for _ in range(MAX_DEPTH):
            if "$ref" in schema:
                schema = {
                    **self._lookup(schema["$ref"]),
                    **{k: v for k, v in schema.items() if k != "$ref"},
                }
            elif "allOf" in schema:
                merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    part = self.resolve(part)
                    merged.setdefault("properties", {}).update(part.get("properties", {}))
                    merged["required"] = [*merged.get("required", []), *part.get("required", [])]
                    merged.update(
                        {k: v for k, v in part.items() if k not in ("properties", "required")}
                    )
                if not merged["properties"]:
                    del merged["properties"]
                schema = merged
            else:
                return schema
        raise SchemaError(f"$ref chain longer than {MAX_DEPTH} in schema")

    def _lookup(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise SchemaError(
                f"only local $ref values (starting with '#') are supported, got {ref!r}"
            )
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaError(f"cannot resolve $ref {ref!r} in the schema")
            node = node[part]
        resolved: dict[str, Any] = node
        return resolved

    def build(self, schema: dict[str, Any], depth: int) -> Any:
        if depth > 4 * MAX_DEPTH:
            raise SchemaError("the schema requires endlessly nested values")
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][self.index % len(schema["enum"])]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [self.resolve(option) for option in schema[key]]
                chosen = next((o for o in options if _type_of(o) != "null"), options[0])
                return self.build(chosen, depth + 1)
        kind = _type_of(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return self._string(schema)
        if kind in ("integer", "number"):
            return self._number(schema, kind)
        if kind == "boolean":
            return True
        return None

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        required = set(schema.get("required", []))
        shallow = depth >= MAX_DEPTH
        return {
            name: self.build(sub, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if not shallow or name in required
        }

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems", [])
        low = schema.get("minItems", 0)
        count = max(low, len(prefix), 0 if depth >= MAX_DEPTH else 1)
        count = min(count, schema.get("maxItems", count))
        items = schema.get("items")
        values = []
        for i in range(count):
            item_schema = prefix[i] if i < len(prefix) else items if isinstance(items, dict) else {}
            values.append(self.build(item_schema, depth + 1))
        return values

    def _string(self, schema: dict[str, Any]) -> str:
        value = self.text
        low = schema.get("minLength", 0)
        if len(value) < low:
            value += "." * (low - len(value))
        return value[: schema.get("maxLength", len(value))]

    def _number(self, schema: dict[str, Any], kind: str) -> int | float:
        step = 1 if kind == "integer" else 0.5
        low = schema.get("minimum")
        if low is None and "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + step
        high = schema.get("maximum")
        if high is None and "exclusiveMaximum" in schema:
            high = schema["exclusiveMaximum"] - step
        if kind == "integer":
            low = math.ceil(low) if low is not None else None
            high = math.floor(high) if high is not None else None
        value = (low if low is not None else 0) + self.index
        if high is not None:
            value = min(value, high)
        return int(value) if kind == "integer" else float(value)
