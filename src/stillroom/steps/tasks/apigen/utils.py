"""APIGen helpers: few-shot examples from query/answers pairs, fence stripping, and running
one generated call in the sandboxed child interpreter (`sandbox_runner.py`, what
`APIGenExecutionChecker` does), or in this process on a function you loaded yourself
(distilabel's `load_module_from_path` and `execute_from_response`)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict

from pydantic import Field

from stillroom.steps.base import Step, StepInput
from stillroom.steps.tasks.apigen.sandbox_runner import call_with
from stillroom.steps.typing import StepColumns, StepOutput

RUNNER = Path(__file__).with_name("sandbox_runner.py")
"""The script the child interpreter runs (stdlib only)."""

_JSON_FENCE = re.compile(r"^```json\n([\s\S]*)\n```$", re.MULTILINE)
_FENCE = re.compile(r"^```\n([\s\S]*)\n```$", re.MULTILINE)


class FunctionResult(TypedDict):
    """One executed call: whether it ran without error, and its result or error text."""

    keep: bool
    execution_result: str


def remove_json_fences(text: str) -> str:
    """`text` without a surrounding ```json fence."""
    match = _JSON_FENCE.match(text)
    return match.group(1) if match else text


def remove_fences(text: str) -> str:
    """`text` without a surrounding plain ``` fence."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def load_module_from_path(path: str | Path) -> ModuleType:
    """Import the Python file at `path` as a module, in this process: its code runs here,
    so load only libraries you trust (the execution checker never does this)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load a Python module from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def execute_from_response(
    function: Callable[..., Any] | None, call_answer: dict[str, Any] | None
) -> FunctionResult:
    """Call `function` with a generated call's arguments, in this process, as distilabel's
    helper does: arguments are read as in the sandbox (`sandbox_runner.call_with`), and an
    error becomes a result with `keep=False` and the error's message. For generated calls
    of a library you do not control, use `execute_in_sandbox`."""
    if function is None:
        return FunctionResult(keep=False, execution_result="Function not found")
    try:
        return FunctionResult(keep=True, execution_result=str(call_with(function, call_answer)))
    except Exception as exc:
        return FunctionResult(keep=False, execution_result=str(exc))


def execute_in_sandbox(
    libpath: str,
    name: str,
    arguments: dict[str, Any] | None,
    *,
    timeout: float = 5.0,
    check_is_dangerous: bool = True,
    memory_mb: int = 1024,
) -> FunctionResult:
    """Call `name(**arguments)` from the library at `libpath` in a child interpreter.

    The child (`python -I`, empty environment, a fresh temporary working directory) has its
    memory, CPU time and process creation capped and refuses sockets and subprocesses; it
    is killed after `timeout` seconds. Nothing of the library is imported in this process.
    """
    request = {
        "libpath": str(Path(libpath).resolve()),
        "name": name,
        "arguments": arguments,
        "check_is_dangerous": check_is_dangerous,
        "memory_mb": memory_mb,
        # a backstop above `timeout`, which ends the call first (a tie made it a "crash")
        "cpu_s": math.ceil(timeout) + 1,
    }
    with tempfile.TemporaryDirectory(prefix="stillroom-apigen-") as workdir:
        try:
            done = subprocess.run(
                [sys.executable, "-I", str(RUNNER)],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=workdir,
                env={"PATH": os.defpath},
                check=False,
            )
        except subprocess.TimeoutExpired:
            return FunctionResult(keep=False, execution_result=f"timed out after {timeout} s")
    lines = done.stdout.strip().splitlines()
    try:
        reply = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        reply = None
    if not isinstance(reply, dict):
        why = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return FunctionResult(keep=False, execution_result=f"the call crashed: {why[0]}")
    if reply.get("ok"):
        return FunctionResult(keep=True, execution_result=str(reply.get("result")))
    return FunctionResult(keep=False, execution_result=str(reply.get("error")))


class PrepareExamples(Step):
    """Join a row's `query` and `answers` lists into one few-shot `examples` text for
    `APIGenGenerator`, each pair formatted with `template` (`{query}`, `{answers}`).

    Columns: inputs = `query` (list of str), `answers` (list of str); outputs = `examples`.
    """

    template: str = Field(
        default="## Query:\n{query}\n## Answers:\n{answers}",
        description="How one query/answers pair is written; pairs are separated by a blank line.",
    )

    @property
    def inputs(self) -> StepColumns:
        return ["query", "answers"]

    @property
    def outputs(self) -> StepColumns:
        return ["examples"]

    def process(self, inputs: StepInput) -> StepOutput:
        yield [
            {
                **row,
                "examples": "\n\n".join(
                    self.template.format(query=query, answers=answers)
                    for query, answers in zip(row["query"], row["answers"], strict=False)
                ),
            }
            for row in inputs
        ]
