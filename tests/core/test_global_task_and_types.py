"""GlobalTask in a pipeline, and the public typing names a port relies on."""

from __future__ import annotations

from typing import Any, get_type_hints

from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts, StepInput
from stillroom.steps.tasks import GlobalTask
from stillroom.steps.tasks.typing import ChatItem, ChatType
from stillroom.steps.typing import StepColumns, StepOutput
from stillroom.typing import GenerateOutput, LLMStatistics


class Summarise(GlobalTask):
    """Asks for one summary of every row's text, and writes it on each row."""

    @property
    def inputs(self) -> StepColumns:
        return ["text"]

    @property
    def outputs(self) -> StepColumns:
        return ["summary", "model_name"]

    def format_input(self, input: dict[str, Any]) -> ChatType:
        return [{"role": "user", "content": input["text"]}]

    def format_output(self, output: str | None, input: dict[str, Any] | None) -> dict[str, Any]:
        return {"summary": output}

    def process(self, inputs: StepInput) -> StepOutput:
        joined = "; ".join(row["text"] for row in inputs)
        reply = self.llm.generate(inputs=[self.format_input({"text": joined})])[0]
        summary = self.format_output(reply["generations"][0], None)
        yield [{**row, **summary} for row in inputs]


def test_a_global_task_gets_every_row_at_once_and_rows_get_the_model_name() -> None:
    llm = MockLLM(model="summariser", responses=lambda messages: f"{len(messages[-1]['content'])}")
    with Pipeline(name="global-task") as pipeline:
        load = LoadDataFromDicts(data=[{"text": f"t{i}"} for i in range(5)], batch_size=2)
        load >> Summarise(llm=llm)
    rows = pipeline.run(progress=False)["default"]["train"].to_list()
    assert [call.prompt for call in llm.calls] == ["t0; t1; t2; t3; t4"]
    assert [row["summary"] for row in rows] == ["18"] * 5
    assert {row["model_name"] for row in rows} == {"summariser"}


def test_typing_names_describe_what_llms_return() -> None:
    item: ChatItem = {"role": "user", "content": "hi"}
    stats: LLMStatistics = {"input_tokens": [3], "output_tokens": [5]}
    output: GenerateOutput = {"generations": ["hello"], "statistics": stats}
    assert MockLLM(responses="hello").generate(inputs=[[item]])[0]["generations"] == ["hello"]
    assert set(get_type_hints(LLMStatistics)) == {"input_tokens", "output_tokens"}
    assert {"generations", "statistics"} <= set(get_type_hints(GenerateOutput))
    assert output["statistics"]["output_tokens"] == [5]
