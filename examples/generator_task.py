"""The GeneratorTask docs page's example, corrected, runnable offline.

A custom GeneratorTask asks the LLM for jokes. Run it with `python examples/generator_task.py`.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from stillroom.models import LLM, MockLLM
from stillroom.steps.tasks.base import GeneratorTask
from stillroom.steps.typing import GeneratorOutput


class MyCustomTask(GeneratorTask):
    """Sends `instruction` to the LLM and yields one row with its reply."""

    instruction: str

    @override
    def process(self, offset: int = 0) -> GeneratorOutput:
        outputs = self.llm.generate(inputs=[[{"role": "user", "content": self.instruction}]])
        reply = outputs[0]["generations"][0]
        yield self.format_output(output=reply, input=None)

    @property
    def outputs(self) -> list[str]:
        return ["output_field", "model_name"]

    def format_output(self, output: str | None, input: dict[str, Any] | None) -> dict[str, Any]:
        return {"output_field": output}


def build(llm: LLM | None = None) -> MyCustomTask:
    llm = llm or MockLLM(
        model="gpt-4", responses="Why did the scarecrow win an award? Because he was outstanding!"
    )
    return MyCustomTask(name="custom-generation", instruction="Tell me a joke.", llm=llm)


if __name__ == "__main__":
    task = build()
    task.load()
    print(next(task.process()))
    task.unload()
