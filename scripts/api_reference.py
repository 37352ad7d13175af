"""Write the API reference (docs/api/*.md) from the docstrings of every public name.

    python scripts/api_reference.py          # rewrite docs/api/
    python scripts/api_reference.py --check  # exit 1 if docs/api/ is out of date

Public names are each module's `__all__` (classes and functions), read with `inspect` on
the imported module rather than by static analysis: stillroom loads many names lazily (the
LLM registry, `__getattr__`), and `inspect` sees what a user's import gets. For a pydantic
class, its fields (type, default, description) are listed; for any class, the public
methods and properties it defines. tests/core/test_api_reference.py runs `--check`.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api"

PAGES = {
    "steps": ("Steps", ["stillroom.steps"]),
    "tasks": ("Tasks", ["stillroom.steps.tasks"]),
    "llms": ("LLMs", ["stillroom.models.llms"]),
    "pipeline": ("Pipeline and Distiset", ["stillroom.pipeline", "stillroom.distiset"]),
    "errors": ("Errors", ["stillroom.errors", "stillroom.exceptions"]),
    "viewer": ("Viewer", ["stillroom.viewer"]),
    "testing": ("Testing tools", ["stillroom.testing"]),
}
"""Page name -> (title, modules documented on it)."""


def public_names(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:  # no __all__: the classes and functions the module itself defines
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", None) == module.__name__
        ]
    return sorted(names)


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__) if obj.__doc__ else "*(no docstring)*"


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or repr(annotation)
    return text.replace("typing.", "").replace("|", "\\|")


def _fields(cls: Any) -> list[str]:
    fields = getattr(cls, "model_fields", None)
    if not fields:
        return []
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, field in fields.items():
        if field.exclude:
            continue
        if field.default_factory is not None:
            default = f"`{field.default_factory.__name__}()`"
        elif field.is_required():
            default = "required"
        else:
            default = f"`{field.default!r}`".replace("|", "\\|")
        description = (field.description or "").replace("\n", " ").replace("|", "\\|")
        lines.append(f"| `{name}` | `{_type_name(field.annotation)}` | {default} | {description} |")
    return ["**Fields**", "", *lines, ""] if len(lines) > 2 else []


def _members(cls: Any) -> list[str]:
    lines: list[str] = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            target, heading = value.fget, f"#### `{name}` *(property)*"
        elif isinstance(value, (classmethod, staticmethod)):
            target, heading = value.__func__, f"#### `{name}{_signature(value.__func__)}`"
        elif inspect.isfunction(value):
            target, heading = value, f"#### `{name}{_signature(value)}`"
        else:
            continue
        if target is None or not target.__doc__:
            continue
        lines += [heading, "", _doc(target), ""]
    return lines


def document(module_name: str, name: str) -> list[str]:
    module = importlib.import_module(module_name)
    obj = getattr(module, name)
    if inspect.isclass(obj):
        bases = ", ".join(b.__name__ for b in obj.__bases__ if b is not object)
        lines = [
            f"## `{name}`",
            "",
            f"`class {module_name}.{name}`" + (f" ({bases})" if bases else ""),
            "",
        ]
        lines += [_doc(obj), "", *_fields(obj), *_members(obj)]
        return lines
    if callable(obj):
        return [f"## `{name}`", "", f"`{module_name}.{name}{_signature(obj)}`", "", _doc(obj), ""]
    return []  # constants and type aliases: documented in the guides


def render() -> dict[str, str]:
    pages = {}
    index = [
        "# API reference",
        "",
        "Generated from the docstrings by `scripts/api_reference.py` (a test checks it is up to "
        "date). Every public name of these modules is listed.",
        "",
    ]
    for page, (title, modules) in PAGES.items():
        lines = [f"# {title}", ""]
        for module_name in modules:
            module = importlib.import_module(module_name)
            lines += [f"Module `{module_name}`.", ""]
            for name in public_names(module):
                lines += document(module_name, name)
        pages[f"{page}.md"] = "\n".join(lines).rstrip() + "\n"
        index.append(f"- [{title}]({page}.md): " + ", ".join(f"`{m}`" for m in modules))
    pages["index.md"] = "\n".join(index) + "\n"
    return pages


def main(argv: list[str]) -> int:
    pages = render()
    if "--check" in argv:
        stale = [
            name
            for name, text in pages.items()
            if not (DOCS / name).exists() or (DOCS / name).read_text("utf-8") != text
        ]
        if stale:
            print(
                f"docs/api is out of date ({', '.join(stale)}): run python scripts/api_reference.py"
            )
            return 1
        return 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (DOCS / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
