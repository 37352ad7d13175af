"""Runtime parameters: fields that may be set when a pipeline runs rather than when it is built.

A field annotated `RuntimeParameter[T]` is listed by `runtime_parameters_names`, can be set with
`set_runtime_parameters` and is validated like any other field. Nested objects that are
themselves `RuntimeParametersMixin` (a task's `llm`) expose their parameters as a nested dict,
and a list of them (e.g. a `FallbackLLM`'s `llms`) as a dict of their indexes ("0", "1", ...).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from types import UnionType
from typing import Annotated, Any, TypeAlias, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, PrivateAttr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from stillroom.errors import UnknownRuntimeParameterError, did_you_mean

logger = logging.getLogger("stillroom.runtime_parameters")

_T = TypeVar("_T")
_MARKER = "stillroom_runtime_parameter"

RuntimeParameter: TypeAlias = Annotated[_T, _MARKER]
"""Marks a field as settable at run time: `batch_size: RuntimeParameter[int] = 50`.

A parameter is optional when it has a default other than None or its type admits None
(`RuntimeParameter[Optional[str]] = None`). One declared without a default
(`key: RuntimeParameter[str]`), or with `Field(default=None)`, is required: it may be left
unset when the object is built, and must be set before the pipeline runs."""

RuntimeParametersNames: TypeAlias = dict[str, Union[bool, "RuntimeParametersNames"]]
"""Parameter name -> whether it is optional, nested as a dict for nested objects."""


def _is_runtime_parameter(field: FieldInfo) -> bool:
    """Marked directly (`RuntimeParameter[T]`) or inside an optional
    (`Optional[RuntimeParameter[T]]`, as distilabel's own steps write it)."""
    return _MARKER in field.metadata or _marked(field.annotation)


def _marked(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return _MARKER in annotation.__metadata__
    if get_origin(annotation) in (Union, UnionType):
        return any(_marked(arg) for arg in get_args(annotation))
    return False


def _nested(value: Any) -> dict[str, RuntimeParametersMixin] | None:
    """The objects with runtime parameters of their own that `value` holds, by key: itself
    under "", or a list's items under "0", "1", ...; None when there are none."""
    if isinstance(value, RuntimeParametersMixin):
        return {"": value}
    if (
        isinstance(value, list)
        and value
        and all(isinstance(item, RuntimeParametersMixin) for item in value)
    ):
        return {str(index): item for index, item in enumerate(value)}
    return None


def _is_optional(field: FieldInfo) -> bool:
    if field.default_factory is not None or field.default not in (None, PydanticUndefined):
        return True
    annotation = field.annotation
    return annotation is None or (
        get_origin(annotation) in (Union, UnionType) and type(None) in get_args(annotation)
    )


class RuntimeParametersMixin(BaseModel):
    """Lists, describes and sets the runtime parameters of a pydantic model."""

    _runtime_parameters: dict[str, Any] = PrivateAttr(default_factory=dict)
    """The values `set_runtime_parameters` was given, by name (as distilabel keeps them)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A runtime parameter declared without a default (`key: RuntimeParameter[str]`)
        defaults to None, as in distilabel: the object can be built first and the value
        given when the pipeline runs; the checks before a run report it if still unset."""
        super().__pydantic_init_subclass__(**kwargs)
        unset = [
            field
            for field in cls.model_fields.values()
            if _is_runtime_parameter(field) and field.is_required()
        ]
        for field in unset:
            field.default = None
        if unset:
            cls.model_rebuild(force=True)

    def _label(self) -> str:
        return f"{type(self).__name__}"

    @property
    def runtime_parameters_names(self) -> RuntimeParametersNames:
        """Every runtime parameter -> whether it is optional (nested objects as dicts)."""
        names: RuntimeParametersNames = {}
        for name, field in type(self).model_fields.items():
            nested = _nested(getattr(self, name, None))
            if nested is not None:
                found: RuntimeParametersNames = {
                    key: item_names
                    for key, item in nested.items()
                    if (item_names := item.runtime_parameters_names)
                }
                if found:
                    names[name] = found.get("", found)
            elif _is_runtime_parameter(field):
                names[name] = _is_optional(field)
        return names

    def get_runtime_parameters_info(self) -> list[dict[str, Any]]:
        """Name, optionality and description of each runtime parameter, for docs and the CLI."""
        info: list[dict[str, Any]] = []
        for name, field in type(self).model_fields.items():
            nested = _nested(getattr(self, name, None))
            if nested is not None:
                described = {
                    key: item_info
                    for key, item in nested.items()
                    if (item_info := item.get_runtime_parameters_info())
                }
                if described:
                    shown = described.get("", described)
                    info.append({"name": name, "runtime_parameters_info": shown})
            elif _is_runtime_parameter(field):
                entry: dict[str, Any] = {"name": name, "optional": _is_optional(field)}
                if field.description:
                    entry["description"] = field.description
                info.append(entry)
        return info

    def unknown_runtime_parameters(self, runtime_parameters: Mapping[str, Any]) -> list[str]:
        """A message for each name in `runtime_parameters` (nested objects' included) that is
        not a runtime parameter; what a pipeline refuses before it runs anything."""
        names = self.runtime_parameters_names
        found: list[str] = []
        for name, value in runtime_parameters.items():
            if name not in names:
                found.append(_unknown_name(self._label(), name, names))
                continue
            nested = _nested(getattr(self, name, None))
            if nested is None or not isinstance(value, Mapping):
                continue
            items = {"": value} if "" in nested else value
            for key, item_values in items.items():
                item = nested.get(str(key))
                if item is not None and isinstance(item_values, Mapping):
                    found += item.unknown_runtime_parameters(item_values)
        return found

    def set_runtime_parameters(self, runtime_parameters: dict[str, Any]) -> None:
        """Set runtime parameters by name.

        A name that is not a runtime parameter is ignored with a warning naming the valid
        ones, as distilabel does; `Pipeline.run(parameters=...)` refuses it before the run
        instead (`unknown_runtime_parameters`). A nested object's unknown item or a value
        of the wrong shape raises `UnknownRuntimeParameterError`.
        """
        names = self.runtime_parameters_names
        for name, value in runtime_parameters.items():
            if name not in names:
                logger.warning("%s It is ignored.", _unknown_name(self._label(), name, names))
                continue
            self._runtime_parameters[name] = value
            nested = _nested(getattr(self, name))
            if nested is not None:
                if not isinstance(value, dict):
                    raise UnknownRuntimeParameterError(
                        f"{self._label()}: runtime parameter {name!r} holds nested "
                        f"parameters; give it a dict such as {{{name!r}: {{...}}}}, not {value!r}."
                    )
                if "" in nested:
                    nested[""].set_runtime_parameters(value)
                    continue
                for key, item_values in value.items():  # a list's items, by index
                    if str(key) not in nested:
                        raise UnknownRuntimeParameterError(
                            f"{self._label()}: {name!r} holds {len(nested)} items, indexed "
                            f"0 to {len(nested) - 1}; there is no item {key!r}."
                        )
                    nested[str(key)].set_runtime_parameters(item_values)
            else:
                # validated against the field's type even where assignment is not (a plain
                # model): a secret given as text becomes a SecretStr, never kept in the clear
                value = self._check_runtime_value(name, value)
                self.__pydantic_validator__.validate_assignment(self, name, value)

    def _check_runtime_value(self, name: str, value: Any) -> Any:
        """Hook for subclasses to validate one value before it is assigned."""
        return value


def _unknown_name(owner: str, name: str, names: Iterable[str]) -> str:
    """The message for `name`, which is not one of `owner`'s runtime parameters `names`."""
    valid = ", ".join(sorted(names)) or "(none)"
    return (
        f"{owner} has no runtime parameter {name!r}.{did_you_mean(name, names)} "
        f"Valid runtime parameters: {valid}."
    )


def accepted_keyword_names(function: Any, exclude: set[str]) -> tuple[set[str], bool]:
    """The keyword parameters of `function` (minus `exclude`), and whether it takes **kwargs."""
    names: set[str] = set()
    var_keyword = False
    for param in inspect.signature(function).parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
        elif param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD) and (
            param.name not in exclude
        ):
            names.add(param.name)
    return names, var_keyword


__all__ = ["RuntimeParameter", "RuntimeParametersMixin", "RuntimeParametersNames"]
