"""The two code examples of the GeneratorTask docs page, with only the import root renamed.

The page's examples are kept verbatim except for `distilabel` -> `stillroom` and the LLM,
which is a scripted mock instead of `OpenAILLM(model="gpt-4")`. Where the page is
inconsistent, the tests pin down what stillroom does:

- Both examples overwrite the LLM's reply with `{"model_name": ...}` before calling
  `format_output`. stillroom's `format_output` always receives reply *text*; handed that
  dict it uses the LLM's latest reply, so the row carries the joke, as the page's output shows.
- The second example has no `instruction` field (its prompt is hard-coded) and omits the
  imports of `override` and `GeneratorOutput`; the test adds those two imports. Passing
  `instruction=` to it is rejected, because steps forbid unknown fields.
- `process` yields a single row dict; `next(task.process())` returns it as a list of rows.
"""

from __future__ import annotations

from typing import Any, Dict, List, Union  # noqa: UP035 (verbatim from the page)

import pytest
from pydantic import ValidationError
from typing_extensions import override

from stillroom.models import MockLLM
from stillroom.steps.tasks.base import GeneratorTask
from stillroom.steps.tasks.typing import ChatType  # noqa: F401 (imported by the page)
from stillroom.steps.typing import GeneratorOutput

JOKE = "Why did the scarecrow win an award? Because he was outstanding!"


def OpenAILLM(model: str) -> MockLLM:
    return MockLLM(model=model, responses=JOKE)


# --- first example, verbatim -------------------------------------------------------------
class MyCustomTask(GeneratorTask):
    instruction: str

    @override
    def process(self, offset: int = 0) -> GeneratorOutput:
        output = self.llm.generate(
            inputs=[
                [
                    {"role": "user", "content": self.instruction},
                ],
            ],
        )
        output = {"model_name": self.llm.model_name}
        output.update(self.format_output(output=output, input=None))
        yield output

    @property
    def outputs(self) -> List[str]:  # noqa: UP006
        return ["output_field", "model_name"]

    def format_output(self, output: Union[str, None], input: Dict[str, Any]) -> Dict[str, Any]:  # noqa: UP006, UP007
        return {"output_field": output}


# --- second example, verbatim (its class is renamed so both can live in one module) -------
class MySecondCustomTask(GeneratorTask):
    @override
    def process(self, offset: int = 0) -> GeneratorOutput:
        output = self.llm.generate(
            inputs=[
                [{"role": "user", "content": "Tell me a joke."}],
            ],
        )
        output = {"model_name": self.llm.model_name}
        output.update(self.format_output(output=output, input=None))
        yield output

    @property
    def outputs(self) -> List[str]:  # noqa: UP006
        return ["output_field", "model_name"]

    def format_output(self, output: Union[str, None], input: Dict[str, Any]) -> Dict[str, Any]:  # noqa: UP006, UP007
        return {"output_field": output}


def test_first_example_runs_as_on_the_page() -> None:
    task = MyCustomTask(
        name="custom-generation",
        instruction="Tell me a joke.",
        llm=OpenAILLM(model="gpt-4"),
    )
    task.load()
    rows = next(task.process())
    assert rows == [{"output_field": JOKE, "model_name": "gpt-4"}]
    assert task.llm.calls[0].messages == [{"role": "user", "content": "Tell me a joke."}]


def test_second_example_runs_without_an_instruction_field() -> None:
    task = MySecondCustomTask(name="custom-generation", llm=OpenAILLM(model="gpt-4"))
    task.load()
    assert next(task.process()) == [{"output_field": JOKE, "model_name": "gpt-4"}]
    assert task.llm.calls[0].prompt == "Tell me a joke."


def test_second_example_rejects_the_instruction_the_usage_snippet_passes() -> None:
    with pytest.raises(ValidationError, match="instruction"):
        MySecondCustomTask(
            name="custom-generation", instruction="Tell me a joke.", llm=OpenAILLM("gpt-4")
        )


def test_outputs_always_include_model_name() -> None:
    task = MyCustomTask(instruction="x", llm=OpenAILLM("gpt-4"))
    assert list(task.get_outputs()) == ["output_field", "model_name"]
    assert task.name == "my_custom_task_0"
