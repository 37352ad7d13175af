"""The default Task.process: formatting, generations, metadata, failures that keep rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stillroom.errors import MissingColumnsError, NotLoadedError
from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.models.llms.openai import OpenAILLM
from stillroom.steps import Step, StepInput
from stillroom.steps.tasks import Task
from stillroom.steps.tasks.base import METADATA_COLUMN
from stillroom.steps.typing import StepOutput
from stillroom.typing import ChatType


class Rate(Task):
    """Asks for a JSON rating; a reply that is not JSON cannot be parsed."""

    @property
    def inputs(self) -> list[str]:
        return ["text"]

    @property
    def outputs(self) -> list[str]:
        return ["score", "reason"]

    def format_input(self, input: dict[str, Any]) -> ChatType:
        return [{"role": "user", "content": f"Rate: {input['text']}"}]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data = json.loads(output or "")
        return {"score": int(data["score"]), "reason": data["reason"]}


GOOD = '{"score": 4, "reason": "clear"}'


def _rate(**kwargs: Any) -> Rate:
    task = Rate(name="rate", **kwargs)
    task.load()
    return task


def test_rows_keep_inputs_and_gain_outputs_and_metadata() -> None:
    task = _rate(llm=MockLLM(model="m", responses=GOOD))
    (rows,) = list(task.process([{"text": "hello world", "id": 7}]))
    assert rows == [
        {
            "text": "hello world",
            "id": 7,
            "score": 4,
            "reason": "clear",
            "model_name": "m",
            METADATA_COLUMN: {
                "raw_output_rate": GOOD,
                "raw_input_rate": [{"role": "user", "content": "Rate: hello world"}],
                "statistics_rate": {"input_tokens": 3, "output_tokens": 4},
            },
        }
    ]


def test_malformed_reply_keeps_the_row_with_none_outputs() -> None:
    task = _rate(llm=MockLLM(responses=["not json", GOOD]))
    rows = next(task.process([{"text": "a"}, {"text": "b"}]))
    assert [r["text"] for r in rows] == ["a", "b"]
    assert rows[0]["score"] is None and rows[0]["reason"] is None
    meta = rows[0][METADATA_COLUMN]
    assert meta["raw_output_rate"] == "not json"
    assert meta["error_rate"].startswith("format_output failed: JSONDecodeError")
    assert rows[1]["score"] == 4 and "error_rate" not in rows[1][METADATA_COLUMN]


@pytest.mark.parametrize("llm_class", [MockLLM, AsyncMockLLM])
def test_failed_request_keeps_its_row_and_no_other(llm_class: type) -> None:
    task = _rate(llm=llm_class(responses=[GOOD, TimeoutError("read timed out"), None]))
    rows = next(task.process([{"text": "a"}, {"text": "b"}, {"text": "c"}]))
    assert [r["text"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["score"] == 4
    assert rows[1]["score"] is None
    assert rows[1][METADATA_COLUMN]["error_rate"] == "TimeoutError: read timed out"
    assert rows[2]["score"] is None
    assert "no text" in rows[2][METADATA_COLUMN]["error_rate"]
    assert len(task.llm.calls) == 3  # nothing was sent twice


def test_num_generations_gives_one_row_each() -> None:
    task = _rate(llm=MockLLM(responses=[GOOD, "oops"]), num_generations=2)
    rows = next(task.process([{"text": "a"}]))
    assert [r["score"] for r in rows] == [4, None]
    assert task.llm.calls[0].num_generations == 2


def test_group_generations_gives_one_row_of_lists() -> None:
    task = _rate(llm=MockLLM(responses=[GOOD, "oops"]), num_generations=2, group_generations=True)
    (row,) = next(task.process([{"text": "a"}]))
    assert row["score"] == [4, None]
    assert row["reason"] == ["clear", None]
    first, second = row[METADATA_COLUMN]  # one dict per generation, as in distilabel
    assert [first["raw_output_rate"], second["raw_output_rate"]] == [GOOD, "oops"]
    assert "error_rate" not in first
    assert second["error_rate"]
    assert first["raw_input_rate"] == second["raw_input_rate"]


def test_group_generations_metadata_keeps_the_rows_own_and_goes_on_downstream() -> None:
    task = _rate(llm=MockLLM(responses=[GOOD, "oops"]), num_generations=2, group_generations=True)
    earlier = {"raw_output_before": "kept"}
    (row,) = next(task.process([{"text": "a", METADATA_COLUMN: earlier}]))
    assert [item["raw_output_before"] for item in row[METADATA_COLUMN]] == ["kept", "kept"]
    # a later task adds its entries to each generation's dict: the list shape stays
    later = Rate(name="later", llm=MockLLM(responses=GOOD))
    later.load()
    (after,) = next(later.process([row]))
    assert [item["raw_output_later"] for item in after[METADATA_COLUMN]] == [GOOD, GOOD]
    assert [item["raw_output_rate"] for item in after[METADATA_COLUMN]] == [GOOD, "oops"]


def test_raw_input_and_output_can_be_left_out() -> None:
    task = _rate(llm=MockLLM(responses=GOOD), add_raw_output=False, add_raw_input=False)
    (row,) = next(task.process([{"text": "a"}]))
    assert set(row[METADATA_COLUMN]) == {"statistics_rate"}


def test_existing_metadata_from_earlier_tasks_is_kept() -> None:
    task = _rate(llm=MockLLM(responses=GOOD))
    (row,) = next(task.process([{"text": "a", METADATA_COLUMN: {"raw_output_earlier": "x"}}]))
    assert row[METADATA_COLUMN]["raw_output_earlier"] == "x"
    assert row[METADATA_COLUMN]["raw_output_rate"] == GOOD


def test_generation_kwargs_are_sent() -> None:
    task = _rate(llm=MockLLM(responses=GOOD, generation_kwargs={"temperature": 0.2}))
    next(task.process([{"text": "a"}]))
    assert task.llm.calls[0].kwargs == {"temperature": 0.2}


def test_missing_required_column_names_step_column_and_fix() -> None:
    task = _rate(llm=MockLLM(responses=GOOD))
    with pytest.raises(MissingColumnsError) as info:
        task.process([{"text": "fine"}, {"txt": "typo"}])
    message = str(info.value)
    assert "Step 'rate' needs column(s) ['text']" in message
    assert "row 1 has only ['txt']" in message
    assert "input_mappings={'text':" in message
    assert task.llm.calls == []  # checked before any LLM call


@pytest.mark.parametrize("by_keyword", [False, True])
def test_rows_may_be_passed_by_position_or_keyword(by_keyword: bool) -> None:
    task = _rate(llm=MockLLM(responses=GOOD))
    rows = [{"text": "a"}]
    batch = next(task.process(inputs=rows) if by_keyword else task.process(rows))
    assert batch[0]["score"] == 4
    with pytest.raises(MissingColumnsError, match=r"row 0 has only \['txt'\]"):
        task.process(inputs=[{"txt": "typo"}]) if by_keyword else task.process([{"txt": "typo"}])


def test_missing_column_in_several_batches_reads_well() -> None:
    class Join(Step):
        @property
        def inputs(self) -> list[str]:
            return ["text"]

        def process(self, *inputs: StepInput) -> StepOutput:
            yield [row for batch in inputs for row in batch]

    step = Join()
    with pytest.raises(MissingColumnsError, match=r"the input rows have only \['a', 'b'\]"):
        step.process([{"a": 1}], [{"b": 2}])


def test_input_and_output_mappings() -> None:
    task = _rate(
        llm=MockLLM(responses=GOOD),
        input_mappings={"text": "review"},
        output_mappings={"score": "rating"},
    )
    (rows,) = list(task.process_applying_mappings([{"review": "nice"}]))
    assert rows[0]["review"] == "nice" and "text" not in rows[0]
    assert rows[0]["rating"] == 4 and "score" not in rows[0]
    assert task.llm.calls[0].prompt == "Rate: nice"


def test_mapping_over_an_existing_column_restores_it() -> None:
    task = _rate(llm=MockLLM(responses=GOOD), input_mappings={"text": "review"})
    (rows,) = list(task.process_applying_mappings([{"review": "nice", "text": "keep me"}]))
    assert rows[0]["text"] == "keep me"
    assert task.llm.calls[0].prompt == "Rate: nice"


def test_task_process_before_load_needs_it_only_for_a_backend_that_loads() -> None:
    # a mock LLM has nothing to load: users' unit tests may skip load(), as in distilabel
    (rows,) = list(Rate(llm=MockLLM(responses=GOOD)).process([{"text": "a"}]))
    assert rows[0]["score"] == 4
    task = Rate(llm=OpenAILLM(model="m", api_key="k"))  # builds its client in load()
    with pytest.raises(NotLoadedError, match=r"Step 'rate_0' \(Rate\).*load\(\)"):
        task.process([{"text": "a"}])


def test_a_users_llm_with_its_own_load_may_skip_it_but_not_on_a_backend() -> None:
    class Double(AsyncMockLLM):
        def load(self) -> None:  # a test double's load, as distilabel's tests write them
            super().load()

    class Shared(OpenAILLM):
        def load(self) -> None:
            super().load()

    (rows,) = list(Rate(llm=Double(responses=GOOD)).process([{"text": "a"}]))
    assert rows[0]["score"] == 4
    with pytest.raises(NotLoadedError, match=r"load\(\)"):
        Rate(llm=Shared(model="m", api_key="k")).process([{"text": "a"}])


async def test_aprocess_row_is_the_same_as_process() -> None:
    task = _rate(llm=AsyncMockLLM(responses=GOOD))
    rows = await task.aprocess_row({"text": "a"})
    assert rows[0]["score"] == 4 and rows[0]["model_name"] == "mock"


def test_every_row_gets_statistics_when_a_reply_has_more_generations_than_counts() -> None:
    """Extra choices (a server answering n=3 to one request) repeat the request's counts on
    their rows, as distilabel's tasks do, instead of rows without figures."""
    task = _rate(llm=MockLLM(model="m", responses=GOOD))
    result = {
        "generations": [GOOD, GOOD, GOOD],
        "statistics": {"input_tokens": [12], "output_tokens": [8, 5]},
    }
    rows = task.rows_from_result({"text": "t"}, None, result)  # type: ignore[arg-type]
    assert [row[METADATA_COLUMN]["statistics_rate"] for row in rows] == [
        {"input_tokens": 12, "output_tokens": 8},
        {"input_tokens": 12, "output_tokens": 5},
        {"input_tokens": 12, "output_tokens": 8},
    ]
