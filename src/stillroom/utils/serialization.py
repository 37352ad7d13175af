"""Dump objects to plain dicts with type information, and load them back safely.

A dump records each object's class as `type_info: {module, name}` so that a YAML or JSON file
can rebuild the same objects. Loading imports only modules under `stillroom` or ones the caller
allows explicitly: a file alone can never make stillroom import arbitrary code. Secret fields
(fields typed `SecretStr`, set or not) are never written, so a dump loaded back reads its keys
from the environment again and equals the object it came from.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import typing
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from stillroom.errors import SerializationError, did_you_mean

TYPE_INFO_KEY = "type_info"
_S = TypeVar("_S", bound="Serializable")
_T = TypeVar("_T")


def gathered_names(cls: type, attribute: str) -> frozenset[str]:
    """The union of the name sets the class attribute `attribute` holds on `cls` and its
    bases (each class lists only its own)."""
    return frozenset().union(*(vars(base).get(attribute, ()) for base in cls.__mro__))


def type_info(cls: type) -> dict[str, str]:
    return {"module": cls.__module__, "name": cls.__qualname__}


def import_type(
    info: dict[str, str], allowed_modules: Iterable[str] = (), *, expected: type[_T]
) -> type[_T]:
    """The class named by a dump's `type_info`: a subclass of `expected`, defined in the module
    the dump names, under `stillroom` or a module the caller allowed.

    Importing runs a module's top-level code, so a module is imported only once the names
    pass these checks, and a `__main__` module (which acts when imported, e.g. by running a
    command line) is never imported: the running script's own classes (module `__main__`,
    when allowed) are looked up in it as it is. A class re-exported under another module is
    refused, with the module to write instead.
    """
    try:
        module_name, name = info["module"], info["name"]
    except (KeyError, TypeError) as exc:
        raise SerializationError(
            f"Malformed {TYPE_INFO_KEY!r}: expected {{'module': ..., 'name': ...}}, got {info!r}."
        ) from exc
    if not isinstance(module_name, str) or not isinstance(name, str):
        raise SerializationError(f"Malformed {TYPE_INFO_KEY!r}: {info!r} should name strings.")
    # A file distilabel wrote names its modules; stillroom has each public name at the same
    # path renamed, where it may be re-exported from the module defining it.
    from_distilabel = module_name == "distilabel" or module_name.startswith("distilabel.")
    if from_distilabel:
        module_name = "stillroom" + module_name[len("distilabel") :]
    where = f"{TYPE_INFO_KEY} {module_name}.{name}"
    kind = expected.__name__.lstrip("_")
    allowed = ("stillroom", *allowed_modules)
    if not any(module_name == m or module_name.startswith(m + ".") for m in allowed):
        raise SerializationError(
            f"Refusing to import {module_name}.{name}: the module is not under 'stillroom' and "
            f"was not allowed. Pass allowed_modules=[{module_name!r}] (or --allow-module on the "
            "CLI) if you trust it."
        )
    parts = name.split(".")
    if not all(part.isidentifier() and not part.startswith("_") for part in parts):
        raise SerializationError(
            f"Refusing {where}: a type_info names a public class by its qualified name "
            "(e.g. 'TextGeneration'), not a private or dotted-in attribute."
        )
    module = _module(module_name, where)
    obj: Any = module
    for part in parts:
        obj = getattr(obj, part, None)
    if not isinstance(obj, type):
        found = "nothing" if obj is None else f"a {type(obj).__name__}"
        raise SerializationError(f"Refusing {where}: it names {found}, not a {kind} class.")
    if not from_distilabel and (obj.__module__ != module.__name__ or obj.__qualname__ != name):
        raise SerializationError(
            f"Refusing {where}: that class is defined as {obj.__module__}.{obj.__qualname__}; "
            f"write type_info {{module: {obj.__module__}, name: {obj.__qualname__}}} instead."
        )
    if not issubclass(obj, expected):
        raise SerializationError(
            f"Refusing {where}: that class is not a {kind}, which is what this part of the "
            "file must hold."
        )
    return obj


def _module(module_name: str, where: str) -> ModuleType:
    """The module `module_name`, imported if it must be; never a `__main__` module (importing
    `a.__main__.b` would import `a.__main__` first)."""
    if module_name == "__main__":
        return sys.modules["__main__"]
    parts = module_name.split(".")
    if not all(part.isidentifier() for part in parts):
        raise SerializationError(f"Refusing {where}: {module_name!r} is not a module name.")
    if "__main__" in parts:
        raise SerializationError(
            f"Refusing {where}: {module_name} is a program's entry point, which acts when "
            "imported; classes are loaded only from ordinary modules."
        )
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise SerializationError(f"Cannot import {where}: {exc}") from exc


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in typing.get_args(annotation))


@functools.cache
def secret_fields(cls: type[BaseModel]) -> frozenset[str]:
    """Names of `cls`'s fields typed as secrets (`SecretStr`, `SecretStr | None`, ...).

    Decided by the annotation, not the value, so a secret left unset is treated like one
    that is set: neither is written anywhere.
    """
    return frozenset(
        name for name, field in cls.model_fields.items() if _mentions_secret(field.annotation)
    )


def _dump_value(value: Any) -> Any:
    if isinstance(value, Serializable):
        return value.dump()
    if isinstance(value, (list, tuple)):
        return [_dump_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump_value(v) for k, v in value.items()}
    if isinstance(value, type) and issubclass(value, BaseModel):
        return {"json_schema": value.model_json_schema()}
    return value


def _field_names(cls: type[BaseModel]) -> frozenset[str]:
    """The keywords `cls` accepts: its fields and their aliases."""
    names = set(cls.model_fields)
    for field in cls.model_fields.values():
        if isinstance(field.alias, str):
            names.add(field.alias)
        if isinstance(field.validation_alias, str):
            names.add(field.validation_alias)
    return frozenset(names)


class Serializable(BaseModel):
    """`dump()`, `save()` and the matching loaders for pydantic-based stillroom objects."""

    @model_validator(mode="wrap")
    @classmethod
    def _name_unknown_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """A mistyped keyword names the class, the closest field and where to find them all,
        where pydantic's own message says only "Extra inputs are not permitted". The value
        given is not shown: a mistyped `api_key` would otherwise print the key."""
        try:
            return handler(data)
        except ValidationError as error:
            details = error.errors()
            if not any(d["type"] == "extra_forbidden" for d in details):
                raise
            name = data.get("name") if isinstance(data, dict) else None
            owner = f"{cls.__name__}({name!r})" if isinstance(name, str) else cls.__name__
            known = _field_names(cls)
            lines: list[Any] = [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "extra_forbidden",
                        "{message}",
                        {
                            "message": f"{owner} has no field {d['loc'][-1]!r}."
                            f"{did_you_mean(str(d['loc'][-1]), known)} Its fields: "
                            f"{', '.join(sorted(cls.model_fields))}."
                        },
                    ),
                    loc=d["loc"],
                    input=f"<{type(d['input']).__name__}>",
                )
                if d["type"] == "extra_forbidden"
                else d
                for d in details
            ]
            raise ValidationError.from_exception_data(error.title, lines) from None

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        """This object as a plain dict with `type_info`; secret and excluded fields left out,
        and so are the fields stillroom adds to distilabel's class (`_stillroom_fields`) while
        they hold their default: the dump of an object configured as distilabel allows is
        distilabel's, and loads in either library."""
        secrets = secret_fields(type(self))
        special = set(secrets) | {
            name
            for name in type(self).model_fields
            if isinstance(getattr(self, name, None), (Serializable, SecretStr, type, list, dict))
        }
        data = self.model_dump(mode="json", exclude=special, **kwargs)
        for name in special:
            field = type(self).model_fields[name]
            value = getattr(self, name)
            if field.exclude or name in secrets or isinstance(value, SecretStr):
                continue
            data[name] = _dump_value(value)
        fields = type(self).model_fields
        for name in gathered_names(type(self), "_stillroom_fields"):
            added = fields.get(name)
            if (
                added is not None
                and name in data
                and getattr(self, name) == added.get_default(call_default_factory=True)
            ):
                del data[name]
        data[TYPE_INFO_KEY] = type_info(type(self))
        return data

    def __eq__(self, other: object) -> bool:
        """Equal when of the same class with the same configuration (runtime state ignored)."""
        if not isinstance(other, Serializable) or type(other) is not type(self):
            return NotImplemented
        return self.dump() == other.dump()

    __hash__ = None  # type: ignore[assignment]

    def save(self, path: str | Path, format: Literal["yaml", "json"] | None = None) -> Path:
        """Write `dump()` to `path` as YAML (default for .yaml/.yml) or JSON."""
        path = Path(path)
        fmt = format or ("json" if path.suffix == ".json" else "yaml")
        data = self.dump()
        import yaml  # here: only YAML files need it (import time, see benchmarks)

        text = (
            json.dumps(data, indent=2) if fmt == "json" else yaml.safe_dump(data, sort_keys=False)
        )
        path.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls: type[_S], data: dict[str, Any], allowed_modules: Iterable[str] = ()) -> _S:
        """Rebuild an object from `dump()` output; nested objects are rebuilt from their type_info."""
        if not isinstance(data, dict):
            raise SerializationError(f"{cls.__name__}.from_dict expects a dict, got {type(data)}.")
        allowed = (*allowed_modules, cls.__module__)
        data = dict(data)
        info = data.pop(TYPE_INFO_KEY, None)
        # distilabel's dumps also describe the runtime parameters: derived from the class,
        # not configuration, so nothing to load
        data.pop("runtime_parameters_info", None)
        target = cls
        if info is not None:
            target = import_type(info, allowed, expected=cls)
        return target._validate_loaded(
            {key: load_value(value, allowed) for key, value in data.items()}
        )

    @classmethod
    def _validate_loaded(cls: type[_S], data: dict[str, Any]) -> _S:
        return cls(**data)

    @classmethod
    def from_yaml(cls: type[_S], path: str | Path, allowed_modules: Iterable[str] = ()) -> _S:
        return cls.from_dict(read_file(path, "yaml"), allowed_modules)

    @classmethod
    def from_json(cls: type[_S], path: str | Path, allowed_modules: Iterable[str] = ()) -> _S:
        return cls.from_dict(read_file(path, "json"), allowed_modules)

    @classmethod
    def from_file(cls: type[_S], path: str | Path, allowed_modules: Iterable[str] = ()) -> _S:
        fmt: Literal["yaml", "json"] = "json" if Path(path).suffix == ".json" else "yaml"
        return cls.from_dict(read_file(path, fmt), allowed_modules)


def load_value(value: Any, allowed_modules: Iterable[str]) -> Any:
    """Rebuild nested objects in a dumped value (dicts carrying `type_info`)."""
    if isinstance(value, dict):
        if TYPE_INFO_KEY in value:
            target = import_type(value[TYPE_INFO_KEY], allowed_modules, expected=Serializable)
            return target.from_dict(value, allowed_modules)
        return {k: load_value(v, allowed_modules) for k, v in value.items()}
    if isinstance(value, list):
        return [load_value(v, allowed_modules) for v in value]
    return value


def read_file(path: str | Path, fmt: Literal["yaml", "json"]) -> dict[str, Any]:
    """Parse a YAML/JSON file into a dict, with an error naming the file and the line."""
    import yaml  # here: only YAML files need it (import time, see benchmarks)

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SerializationError(f"Cannot read {path}: {exc}") from exc
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SerializationError(f"{path} is not valid {fmt.upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise SerializationError(
            f"{path} should hold a mapping (key: value pairs) at the top, got {type(data).__name__}."
        )
    return data
