"""`stillroom port PATH...`: rename distilabel to stillroom in a project's files.

Prints a unified diff of each file it would change (nothing is written) unless `--write` is
given, then lists the names the ported Python imports that stillroom lacks. Exit status 0
when nothing is missing, 1 otherwise.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stillroom.errors import StillroomUserError
from stillroom.utils.porting import SUFFIXES, Missing, missing_names, rename


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "port", help="Rename distilabel to stillroom in files (a diff unless --write)."
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="Files or folders to port.")
    parser.add_argument("--write", action="store_true", help="Write the changes to the files.")
    parser.set_defaults(handler=_run)


def _files(paths: list[str]) -> Iterator[Path]:
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.suffix in SUFFIXES and found.is_file() and ".git" not in found.parts:
                    yield found
        elif path.is_file():
            yield path
        else:
            raise StillroomUserError(f"stillroom port: {given} is neither a file nor a folder.")


def _python_sources(path: Path, text: str) -> list[str]:
    """The Python code of a file: itself for .py, the code cells of a notebook."""
    if path.suffix == ".py":
        return [text]
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except (ValueError, AttributeError):
            return []
        return [
            "".join(c.get("source", []))
            for c in cells
            if isinstance(c, dict) and c.get("cell_type") == "code"
        ]
    return []


def _run(args: argparse.Namespace) -> int:
    changed = 0
    missing: dict[Path, Missing] = {}
    for path in _files(args.paths):
        text = path.read_text(encoding="utf-8")
        ported = rename(text)
        if ported != text:
            changed += 1
            if args.write:
                path.write_text(ported, encoding="utf-8")
            else:
                diff = difflib.unified_diff(
                    text.splitlines(keepends=True),
                    ported.splitlines(keepends=True),
                    fromfile=str(path),
                    tofile=str(path),
                )
                print("".join(diff), end="")
        for source in _python_sources(path, ported):
            gaps = missing_names(source)
            if gaps.modules or gaps.names:
                entry = missing.setdefault(path, Missing())
                entry.modules += gaps.modules
                entry.names += gaps.names
    verb = "changed" if args.write else "would change"
    print(f"stillroom port: {changed} file(s) {verb}.")
    for path, gaps in missing.items():
        for module in gaps.modules:
            print(f"missing in stillroom: module {module} (imported by {path})")
        for module, name in gaps.names:
            print(f"missing in stillroom: {module}.{name} (imported by {path})")
    return 1 if missing else 0
