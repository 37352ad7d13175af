"""A task's own `self.llm.generate`/`agenerate` calls go through the pipeline's request cache."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.models.llms.base import LLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import StepFailedError
from stillroom.steps import LoadDataFromDicts, StepInput
from stillroom.steps.tasks import GeneratorTask, Task
from stillroom.steps.typing import GeneratorOutput, StepOutput

pytestmark = pytest.mark.timeout(60)


class Jokes(GeneratorTask):
    """Like the guide's GeneratorTask: one `self.llm.generate` call per batch of three."""

    batches: int = 2

    def process(self, offset: int = 0) -> GeneratorOutput:
        for index in range(offset // 3, self.batches):
            prompts = [[{"role": "user", "content": f"joke {index}-{i}"}] for i in range(3)]
            outputs = self.llm.generate(inputs=prompts)
            rows = [self.format_output(o["generations"][0], None) for o in outputs]
            yield rows, index == self.batches - 1

    @property
    def outputs(self) -> list[str]:
        return ["joke"]

    def format_output(self, output: str | None, input: dict[str, Any] | None) -> dict[str, Any]:
        return {"joke": output}


class AskEach(Task):
    """Calls `self.llm.agenerate` itself, one row at a time, on a loop of its own or on the
    LLM's (`run_sync`)."""

    on_llm_loop: bool = False

    @property
    def inputs(self) -> list[str]:
        return ["instruction"]

    @property
    def outputs(self) -> list[str]:
        return ["answer"]

    def format_input(self, input: dict[str, Any]) -> Any:
        return [{"role": "user", "content": input["instruction"]}]

    def format_output(self, output: str | None, input: dict[str, Any] | None) -> dict[str, Any]:
        return {"answer": output}

    def process(self, inputs: StepInput) -> StepOutput:
        async def ask(row: dict[str, Any]) -> str | None:
            reply = await self.llm.agenerate(self.format_input(row), num_generations=1)
            return reply["generations"][0]

        rows = []
        for row in inputs:
            run = self.llm.run_sync if self.on_llm_loop else asyncio.run  # type: ignore[attr-defined]
            rows.append({**row, **self.format_output(run(ask(row)), row)})
        yield rows


def reply(messages: list[dict[str, Any]]) -> str:
    return "re: " + messages[-1]["content"]


def jokes_pipeline(llm: LLM) -> Pipeline:
    with Pipeline(name="direct-jokes") as pipeline:
        Jokes(name="jokes", llm=llm)
    return pipeline


@pytest.mark.parametrize("llm_class", [MockLLM, AsyncMockLLM])
def test_a_generator_tasks_own_calls_are_counted_and_cached(llm_class: type) -> None:
    llm = llm_class(responses=reply)
    distiset = jokes_pipeline(llm).run(progress=False)
    rows = distiset["default"]["train"].to_list()
    assert [r["joke"] for r in rows] == [f"re: joke {b}-{i}" for b in range(2) for i in range(3)]
    assert len(llm.calls) == 6
    assert distiset.summary is not None
    assert distiset.summary.requests_sent == 6 and distiset.summary.cache_hits == 0

    again = llm_class(responses=reply)
    distiset = jokes_pipeline(again).run(use_cache=True, progress=False)
    assert again.calls == []
    assert distiset.summary.requests_sent == 0 and distiset.summary.cache_hits == 6
    assert distiset["default"]["train"].to_list() == rows


@pytest.mark.parametrize("on_llm_loop", [False, True])
def test_a_tasks_own_agenerate_calls_are_counted_and_cached(on_llm_loop: bool) -> None:
    def build() -> tuple[Pipeline, AsyncMockLLM]:
        llm = AsyncMockLLM(responses=reply)
        with Pipeline(name="direct-async") as pipeline:
            LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(4)]) >> AskEach(
                name="ask", llm=llm, on_llm_loop=on_llm_loop
            )
        return pipeline, llm

    pipeline, llm = build()
    distiset = pipeline.run(progress=False)
    assert len(llm.calls) == 4 and distiset.summary.requests_sent == 4
    pipeline, llm = build()
    distiset = pipeline.run(progress=False)
    assert llm.calls == [] and distiset.summary.cache_hits == 4
    assert [r["answer"] for r in distiset["default"]["train"]] == [f"re: q{i}" for i in range(4)]


def test_a_failed_own_call_still_raises_and_is_not_cached() -> None:
    llm = MockLLM(responses=[RuntimeError("server down")] + ["ok"] * 10)
    with pytest.raises(StepFailedError, match="server down"):
        jokes_pipeline(llm).run(progress=False)
    again = MockLLM(responses=reply)
    distiset = jokes_pipeline(again).run(progress=False)
    assert len(again.calls) == 6 and distiset.summary.cache_hits == 0


class SameJoke(Jokes):
    """Asks the same prompt three times per batch, for `batches` batches. While the file
    `flag` exists it raises in batch `fail_at`, after that batch's calls were answered."""

    batches: int = 4
    fail_at: int = 2
    flag: str

    def process(self, offset: int = 0) -> GeneratorOutput:
        for index in range(offset // 3, self.batches):
            outputs = self.llm.generate(inputs=[[{"role": "user", "content": "a joke"}]] * 3)
            if index == self.fail_at and os.path.exists(self.flag):
                raise RuntimeError("the generator broke")
            rows = [self.format_output(o["generations"][0], None) for o in outputs]
            yield rows, index == self.batches - 1


@pytest.mark.parametrize("llm_class", [MockLLM, AsyncMockLLM])
def test_a_resumed_generator_neither_repeats_earlier_replies_nor_resends_answered_calls(
    tmp_path: Path, llm_class: type
) -> None:
    flag = tmp_path / "broken"
    flag.touch()
    llm = llm_class(responses=[f"joke {i}" for i in range(30)])

    def build() -> Pipeline:
        with Pipeline(name="same-joke") as pipeline:
            SameJoke(name="jokes", llm=llm, flag=str(flag))
        return pipeline

    with pytest.raises(StepFailedError, match="the generator broke"):
        build().run(progress=False)
    assert len(llm.calls) == 9  # batches 0 and 1 emitted; batch 2 answered, then it broke
    flag.unlink()
    distiset = build().run(progress=False)
    assert distiset.summary is not None and distiset.summary.resumed
    jokes = [row["joke"] for row in distiset["default"]["train"].to_list()]
    # identical prompts are told apart by how many came before them, across the resume:
    # batch 2 gets its own earlier replies back from the cache, batch 3 new ones
    assert jokes == [f"joke {i}" for i in range(12)]
    assert len(llm.calls) == 12
    assert distiset.summary.cache_hits == 3
