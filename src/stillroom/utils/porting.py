"""The distilabel -> stillroom rename behind `stillroom port`.

One word in its three spellings (`distilabel`, `Distilabel`, `DISTILABEL`), everywhere in a
text: imports, identifiers, module paths in strings, env vars, the metadata column. Hub repo
ids (`distilabel-internal-testing/...`), hyphenated Hub names and URLs name things outside
the library and keep their spelling. After the rename, each `stillroom.<module>` import is
checked, and names stillroom does not have are reported (`missing_names`).
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass, field

SPELLINGS = {"distilabel": "stillroom", "Distilabel": "Stillroom", "DISTILABEL": "STILLROOM"}
SUFFIXES = (".py", ".ipynb", ".yaml", ".yml", ".json", ".md")
"""Files `stillroom port` rewrites."""

_WORD = re.compile(r"distilabel|Distilabel|DISTILABEL")
_KEEP = re.compile(
    r"https?://\S+"  # URLs
    r"|[\w.-]*distilabel[\w.-]*/[\w.-]+"  # owner/name repo ids
    r"|[\w.]*distilabel-[\w.-]*"  # hyphenated Hub names
    r"|[\w.-]+-distilabel\b[\w.-]*",
    re.IGNORECASE,
)


def rename(text: str) -> str:
    """`text` with every spelling renamed, outside URLs, repo ids and hyphenated names."""
    out: list[str] = []
    position = 0
    for kept in _KEEP.finditer(text):
        out.append(_WORD.sub(lambda m: SPELLINGS[m.group(0)], text[position : kept.start()]))
        out.append(kept.group(0))
        position = kept.end()
    out.append(_WORD.sub(lambda m: SPELLINGS[m.group(0)], text[position:]))
    return "".join(out)


@dataclass
class Missing:
    """Names a ported file imports from stillroom that stillroom lacks."""

    modules: list[str] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)


def missing_names(source: str) -> Missing:
    """The `stillroom...` modules and `from stillroom... import name` names of Python
    `source` that do not resolve (a file that does not parse reports nothing)."""
    found = Missing()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "stillroom" and not _module(alias.name):
                    found.modules.append(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "stillroom":
                continue
            module = _module(node.module)
            if module is None:
                found.modules.append(node.module)
                continue
            for alias in node.names:
                if alias.name != "*" and not _has(module, node.module, alias.name):
                    found.names.append((node.module, alias.name))
    return found


def _module(name: str) -> object | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _has(module: object, module_name: str, name: str) -> bool:
    return hasattr(module, name) or _module(f"{module_name}.{name}") is not None
