"""A JSON schema in the form Gemini's `responseSchema` takes (an OpenAPI 3.0 subset).

References (`$ref` to `$defs`/`definitions`, as pydantic writes nested models) are inlined,
a `null` alternative becomes `nullable: true`, types are written as the API's enum names
(`OBJECT`, `STRING`, ...) and keywords the API does not know (`additionalProperties`,
`$schema`, ...) are left out: they only restrict, and every reply is still validated against
the full schema (`structured`).
"""

from __future__ import annotations

from typing import Any

from stillroom.errors import StillroomError

_KEPT = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "anyOf",
    "propertyOrdering",
    "default",
    "example",
}


def gemini_schema(schema: dict[str, Any], label: str) -> dict[str, Any]:
    """`schema` rewritten for `responseSchema` (see the module docstring)."""
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    converted: dict[str, Any] = _convert(schema, definitions, label, depth=0)
    return converted


def _convert(node: Any, definitions: dict[str, Any], label: str, depth: int) -> Any:
    if depth > 32:
        raise StillroomError(
            f"{label}: the structured output schema nests too deeply or is recursive, which "
            "Gemini's responseSchema cannot express."
        )
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        if name not in definitions:
            raise StillroomError(f"{label}: the schema refers to {node['$ref']!r}, not defined.")
        return _convert(
            {**definitions[name], **_without(node, "$ref")}, definitions, label, depth + 1
        )
    out: dict[str, Any] = {}
    alternatives = node.get("anyOf") or node.get("oneOf")
    if isinstance(alternatives, list):
        options = [a for a in alternatives if not (isinstance(a, dict) and a.get("type") == "null")]
        if len(options) < len(alternatives):
            out["nullable"] = True
        if len(options) == 1:
            out.update(_convert(options[0], definitions, label, depth + 1))
        else:
            out["anyOf"] = [_convert(a, definitions, label, depth + 1) for a in options]
    kind = node.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            out["nullable"] = True
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1:
            out["anyOf"] = [{"type": str(k).upper()} for k in kinds]
    if isinstance(kind, str):
        out["type"] = kind.upper()
    for key, value in node.items():
        if key not in _KEPT or key in ("type", "anyOf"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _convert(sub, definitions, label, depth + 1) for name, sub in value.items()
            }
        elif key == "items":
            out[key] = _convert(value, definitions, label, depth + 1)
        else:
            out[key] = value
    if "const" in node and "enum" not in out:
        out["enum"] = [node["const"]]
    return out


def _without(node: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != key}
