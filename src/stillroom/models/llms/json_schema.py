"""A small JSON Schema validator for checking structured replies against a schema dict.

It covers the keywords that output schemas use in practice (those pydantic generates included):
`type`, `enum`, `const`, `properties`, `required`, `additionalProperties`, `items`,
`prefixItems`, `minItems`/`maxItems`, `minLength`/`maxLength`, `pattern`, `minimum`/`maximum`,
`exclusiveMinimum`/`exclusiveMaximum`, `anyOf`, `oneOf`, `allOf` and local `$ref`s. Other
keywords are ignored, so a reply is never rejected for a rule this module does not know.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref ('#/...') is supported, got {ref!r}")
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schema_errors(
    value: Any, schema: Any, root: dict[str, Any] | None = None, path: str = "$"
) -> list[str]:
    """Every way `value` breaks `schema`, as 'path: problem' lines (empty when valid)."""
    if schema is True or schema is None:
        return []
    if schema is False:
        return [f"{path}: no value is allowed here"]
    root = schema if root is None else root
    if "$ref" in schema:
        return schema_errors(value, _resolve(schema["$ref"], root), root, path)

    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_TYPES.get(name, lambda _: True)(value) for name in names):
            return [f"{path}: expected {' or '.join(names)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}")

    for sub in schema.get("allOf", []):
        errors += schema_errors(value, sub, root, path)
    for key, needed in (("anyOf", "any"), ("oneOf", "one")):
        if key in schema:
            matching = sum(not schema_errors(value, sub, root, path) for sub in schema[key])
            if matching == 0 or (needed == "one" and matching > 1):
                errors.append(f"{path}: matches {matching} of the {key} alternatives")

    if isinstance(value, dict):
        errors += _object_errors(value, schema, root, path)
    elif isinstance(value, list):
        errors += _array_errors(value, schema, root, path)
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match {schema['pattern']!r}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        errors += _number_errors(value, schema, path)
    return errors


def _object_errors(
    value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    required = schema.get("required", [])
    errors = [f"{path}: missing required key {key!r}" for key in required if key not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            errors += schema_errors(item, properties[key], root, f"{path}.{key}")
        elif extra is False:
            errors.append(f"{path}: unexpected key {key!r}")
        elif isinstance(extra, dict):
            errors += schema_errors(item, extra, root, f"{path}.{key}")
    return errors


def _array_errors(
    value: list[Any], schema: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    errors: list[str] = []
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{path}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: more than {schema['maxItems']} items")
    prefix = schema.get("prefixItems", [])
    for index, item in enumerate(value):
        sub = prefix[index] if index < len(prefix) else schema.get("items")
        if isinstance(sub, dict | bool):
            errors += schema_errors(item, sub, root, f"{path}[{index}]")
    return errors


def _number_errors(value: float, schema: dict[str, Any], path: str) -> list[str]:
    checks = (
        ("minimum", lambda bound: value < bound, "less than"),
        ("maximum", lambda bound: value > bound, "greater than"),
        ("exclusiveMinimum", lambda bound: value <= bound, "not greater than"),
        ("exclusiveMaximum", lambda bound: value >= bound, "not less than"),
    )
    return [
        f"{path}: {value!r} is {words} {schema[key]!r}"
        for key, broken, words in checks
        if isinstance(schema.get(key), (int, float)) and broken(schema[key])
    ]
