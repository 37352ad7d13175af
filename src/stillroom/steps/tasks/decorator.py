"""`@task`: make a task out of a `format_output` function whose docstring holds the prompts.

    @task(inputs=["question"], outputs=["answer"])
    def Answer(output: str | None, input: dict | None = None) -> dict:
        '''
        ---
        system_prompt: You answer in one sentence.
        user_message_template: "Question: {question}"
        ---
        '''
        return {"answer": output}

`user_message_template` is filled with `str.format` from the row's columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stillroom.errors import StepDefinitionError, StillroomError
from stillroom.steps.tasks.base import Task
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType


def _prompts_from_docstring(func: Callable[..., Any]) -> dict[str, str]:
    import yaml  # here: only @task needs it (import time, see benchmarks)

    doc = func.__doc__ or ""
    parts = doc.split("---")
    if len(parts) < 3:
        raise StepDefinitionError(
            f"@task {func.__name__}: the docstring needs a block between two '---' lines with "
            "`user_message_template:` (and optionally `system_prompt:`)."
        )
    try:
        block = yaml.safe_load(_dedent_block(parts[1])) or {}
    except yaml.YAMLError as exc:
        raise StepDefinitionError(
            f"@task {func.__name__}: the docstring block is not YAML: {exc}"
        ) from exc
    if not isinstance(block, dict) or "user_message_template" not in block:
        raise StepDefinitionError(
            f"@task {func.__name__}: the docstring block must define `user_message_template`."
        )
    unknown = set(block) - {"system_prompt", "user_message_template"}
    if unknown:
        raise StepDefinitionError(
            f"@task {func.__name__}: unknown docstring keys {sorted(unknown)}; expected "
            "system_prompt and user_message_template."
        )
    return {k: str(v) for k, v in block.items()}


def _dedent_block(text: str) -> str:
    import textwrap

    return textwrap.dedent(text.strip("\n"))


def task(
    inputs: StepColumns | None = None, outputs: StepColumns | None = None
) -> Callable[[Callable[..., dict[str, Any]]], type[Task]]:
    """Make a `Task` class from a `format_output` function and the prompts in its docstring."""

    def decorator(func: Callable[..., dict[str, Any]]) -> type[Task]:
        prompts = _prompts_from_docstring(func)
        template = prompts["user_message_template"]
        system_prompt = prompts.get("system_prompt")

        def format_input(self: Task, input: dict[str, Any]) -> ChatType:
            try:
                content = template.format(**input)
            except KeyError as exc:
                raise StillroomError(
                    f"Task {self.name!r}: the user_message_template needs column {exc.args[0]!r}, "
                    f"which the row does not have (it has {sorted(input)})."
                ) from None
            messages: ChatType = [{"role": "user", "content": content}]
            if system_prompt:
                messages.insert(0, {"role": "system", "content": system_prompt.strip()})
            return messages

        def format_output(
            self: Task, output: str | None, input: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            return func(output, input)

        namespace: dict[str, Any] = {
            "__module__": func.__module__,
            "__qualname__": func.__qualname__,
            "__doc__": func.__doc__,
            "inputs": property(lambda self: inputs or []),
            "outputs": property(lambda self: outputs or []),
            "format_input": format_input,
            "format_output": format_output,
        }
        return type(func.__name__, (Task,), namespace)

    return decorator
