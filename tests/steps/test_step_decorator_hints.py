"""`@step` resolves each parameter's annotation on its own and ignores the return one."""

from __future__ import annotations

from typing import Any

SOURCE = """
from typing import TYPE_CHECKING

from stillroom.steps import StepInput, step

if TYPE_CHECKING:
    from stillroom.steps.typing import StepOutput
    from somewhere import Unknown


@step(inputs=["text"], outputs=["text"])
def Suffix(inputs: StepInput, suffix: str = "!", extra: "Unknown" = None) -> "StepOutput":
    for row in inputs:
        row["text"] += suffix
    yield inputs
"""


def test_type_checking_only_annotations_do_not_break_the_step() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(SOURCE, "user_steps.py", "exec"), namespace)
    step = namespace["Suffix"](suffix="?", extra=object())
    step.load()
    assert list(step.process_applying_mappings([{"text": "a"}])) == [[{"text": "a?"}]]
    fields = type(step).model_fields
    assert fields["suffix"].annotation is str
    assert "inputs" not in fields
