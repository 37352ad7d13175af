"""The complete code examples of the guides run as written (fragments are left out).

Each listed block is executed on its own; the `test_*` functions a block defines (the
testing guides show tests) are then called, so an example that stops working fails here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

EXAMPLES = [
    ("getting-started.md", 1),
    ("guides/custom-generator-task.md", 0),
    ("guides/testing-with-mock-llms.md", 0),
    ("testing/mock-server.md", 0),
]


def _block(page: str, index: int) -> str:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text("utf-8"), flags=re.S)[index]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("page", "index"), EXAMPLES, ids=[f"{p}#{i}" for p, i in EXAMPLES])
def test_example_runs(page: str, index: int, tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_example_{index}"}
    cwd = os.getcwd()
    os.chdir(tmp_path)  # anything an example writes stays in the test's folder
    try:
        exec(compile(_block(page, index), str(DOCS / page), "exec"), namespace)
        tests = [value for name, value in namespace.items() if name.startswith("test_")]
        for test in tests:
            test()
    finally:
        os.chdir(cwd)


def test_the_examples_show_what_they_claim() -> None:
    namespace: dict[str, Any] = {}
    exec(_block("getting-started.md", 1), namespace)
    assert namespace["rows"][0]["generation"] == "Paris."
    assert namespace["rows"][0]["model_name"] == "mock"

    namespace = {}
    exec(_block("guides/custom-generator-task.md", 0), namespace)
    task = namespace["task"]
    rows = next(task.process())
    assert rows == [
        {"output_field": "Why did the scarecrow win an award? ...", "model_name": "gpt-4"}
    ]
