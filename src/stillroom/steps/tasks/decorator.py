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

Both prompts are filled with `str.format` from the row's columns (only the input columns may
be named; both keys are required, as in distilabel: `system_prompt: ""` for none).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

from stillroom.errors import StillroomError, StillroomUserError
from stillroom.steps.bookkeeping import normalize_columns
from stillroom.steps.tasks.base import Task
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType


def _prompts_from_docstring(func: Callable[..., Any], columns: list[str]) -> dict[str, str]:
    """`system_prompt` and `user_message_template` from the docstring's `---` block, each
    checked to name only the task's input `columns` as placeholders."""
    import yaml  # here: only @task needs it (import time, see benchmarks)

    name = func.__name__
    if not (func.__doc__ or "").strip():
        raise StillroomUserError(
            f"When using the `task` decorator, including a docstring in the formatting function "
            f"is mandatory: give {name} one holding a block between two '---' lines with "
            "`system_prompt:` and `user_message_template:`."
        )
    parts = (func.__doc__ or "").split("---")
    block: Any = None
    if len(parts) >= 3:
        try:
            block = yaml.safe_load(_dedent_block(parts[1])) or {}
        except yaml.YAMLError:
            block = None
    if not isinstance(block, dict):
        raise StillroomUserError(
            f"Formatting function decorated with `task` doesn't follow the expected format: "
            f"{name}'s docstring needs a YAML mapping between two '---' lines, with "
            "`system_prompt:` and `user_message_template:`."
        )
    keys = ("system_prompt", "user_message_template")
    if set(block) != set(keys):
        raise StillroomUserError(
            f"The formatting function decorated with `task` must include both the "
            f"`system_prompt` and `user_message_template` keys in the docstring, and no other "
            f"({name}'s block has {sorted(block)}). Write `system_prompt: ''` for none."
        )
    prompts = {key: str(block[key] or "") for key in keys}
    for key, text in prompts.items():
        unknown = [field for field in _placeholders(text) if field not in columns]
        if unknown:
            raise StillroomUserError(
                f"The formatting function decorated with `task` includes invalid placeholders "
                f"in the extracted `{key}` of {name}: {unknown} are not among its inputs "
                f"{columns}. Add them to `inputs=` or remove them from the prompt."
            )
    return prompts


def _placeholders(template: str) -> list[str]:
    """The field names of a `str.format` template."""
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def _dedent_block(text: str) -> str:
    import textwrap

    return textwrap.dedent(text.strip("\n"))


def task(
    inputs: StepColumns | None = None, outputs: StepColumns | None = None
) -> Callable[[Callable[..., dict[str, Any]]], type[Task]]:
    """Make a `Task` class from a `format_output` function and the prompts in its docstring."""

    def decorator(func: Callable[..., dict[str, Any]]) -> type[Task]:
        prompts = _prompts_from_docstring(func, list(normalize_columns(inputs)))

        def render(self: Task, key: str, input: dict[str, Any]) -> str:
            try:
                return prompts[key].format(**input).strip()
            except KeyError as exc:
                raise StillroomError(
                    f"Task {self.name!r}: the {key} needs column {exc.args[0]!r}, which the "
                    f"row does not have (it has {sorted(input)})."
                ) from None

        def format_input(self: Task, input: dict[str, Any]) -> ChatType:
            messages: ChatType = [
                {"role": "user", "content": render(self, "user_message_template", input)}
            ]
            if prompts["system_prompt"].strip():
                system = render(self, "system_prompt", input)
                messages.insert(0, {"role": "system", "content": system})
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
