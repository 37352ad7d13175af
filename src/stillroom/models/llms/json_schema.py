"""Check a structured reply against a JSON schema dict, with `jsonschema`'s Draft 2020-12 validator.

Every keyword of the draft is enforced (`uniqueItems`, `multipleOf`, `not`, `if`/`then`,
`patternProperties`, `$ref`/`$defs`, ...); `format` stays an annotation, as the draft says.
Each problem is one 'path: what was expected' line, the path written `$.key[0]`, so a model
that is asked again sees which field to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: jsonschema takes some 70 ms to import
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError, ValidationError

_CACHE_SIZE = 64
"""Schemas whose validator is kept (a pipeline checks many replies against a few schemas)."""

_validators: dict[int, tuple[Any, Draft202012Validator]] = {}


def schema_errors(value: Any, schema: Any) -> list[str]:
    """Every way `value` breaks `schema`, most relevant first, as 'path: problem' lines.

    Raises `ValueError` when the schema itself is not a valid JSON schema or has a `$ref`
    that cannot be resolved inside it (remote references are never fetched).
    """
    from jsonschema.exceptions import relevance
    from referencing.exceptions import Unresolvable

    validator = _validator(schema)
    try:
        errors = sorted(validator.iter_errors(value), key=relevance, reverse=True)
    except Unresolvable as exc:
        raise ValueError(
            f"cannot resolve {exc} in the JSON schema: only references into the schema "
            "itself (e.g. '#/$defs/Name') are supported"
        ) from exc
    return [f"{_path(error)}: {_problem(error)}" for error in errors]


def _validator(schema: Any) -> Draft202012Validator:
    """The validator for `schema`, checked once and then reused while the same dict is used."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    cached = _validators.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(
            f"the JSON schema is itself invalid at {_path(exc)}: {exc.message}"
        ) from exc
    validator = Draft202012Validator(schema)
    if len(_validators) >= _CACHE_SIZE:
        _validators.pop(next(iter(_validators)))
    _validators[id(schema)] = (schema, validator)
    return validator


def _path(error: ValidationError | SchemaError) -> str:
    parts: Iterable[str | int] = error.absolute_path
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _problem(error: ValidationError) -> str:
    """What was expected, in our words where jsonschema's message does not say it plainly."""
    keyword, value = error.validator, error.instance
    if keyword == "type":
        names = error.validator_value
        names = names if isinstance(names, list) else [names]
        return f"expected {' or '.join(names)}, got {type(value).__name__}"
    if keyword == "required":
        missing = error.message.removesuffix(" is a required property")
        return f"missing required key {missing}"
    if keyword in ("anyOf", "oneOf") and error.context:
        from jsonschema.exceptions import best_match

        closest = best_match(error.context)
        return (
            f"matches none of the {keyword} alternatives "
            f"(closest: {_path(closest)}: {_problem(closest)})"
        )
    return error.message
