"""The request cache: reruns are free, changes invalidate only what they affect, failures retry."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import SecretLLM

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(60)


def two_tasks(
    second_template: str = "Improve: {{ generation }}",
) -> tuple[Pipeline, AsyncMockLLM, AsyncMockLLM]:
    first_llm = AsyncMockLLM(responses=lambda m: "draft of " + m[-1]["content"])
    second_llm = AsyncMockLLM(responses=lambda m: "final of " + m[-1]["content"])
    with Pipeline(name="cached") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(12)], batch_size=5)
        first = TextGeneration(name="first", llm=first_llm)
        second = TextGeneration(
            name="second",
            llm=second_llm,
            template=second_template,
            columns=["generation"],
            output_mappings={"generation": "final"},
        )
        load >> first >> second
    return pipeline, first_llm, second_llm


def test_a_rerun_sends_no_request_and_gives_the_same_rows() -> None:
    pipeline, first, second = two_tasks()
    before = pipeline.run(progress=False)["default"]["train"].to_list()
    assert (len(first.calls), len(second.calls)) == (12, 12)
    pipeline, first, second = two_tasks()
    distiset = pipeline.run(progress=False)
    assert first.calls == [] and second.calls == []
    assert distiset["default"]["train"].to_list() == before
    assert distiset.summary is not None and distiset.summary.cache_hits == 24
    assert distiset.summary.requests_sent == 0


def test_changing_a_step_resends_only_its_requests_and_those_downstream() -> None:
    two_tasks()[0].run(progress=False)
    pipeline, first, second = two_tasks("Polish: {{ generation }}")
    rows = pipeline.run(progress=False)["default"]["train"].to_list()
    assert first.calls == [] and len(second.calls) == 12
    assert rows[0]["final"] == "final of Polish: draft of q0"


def test_use_cache_false_sends_everything_again() -> None:
    two_tasks()[0].run(progress=False)
    pipeline, first, second = two_tasks()
    pipeline.run(use_cache=False, progress=False)
    assert (len(first.calls), len(second.calls)) == (12, 12)


def test_a_rerun_retries_exactly_the_failed_requests() -> None:
    failing = {"q1", "q4"}

    def reply(messages: list[dict[str, Any]]) -> Any:
        prompt = messages[-1]["content"]
        return RuntimeError("server error") if prompt in failing else "ok " + prompt

    def build() -> tuple[Pipeline, AsyncMockLLM]:
        llm = AsyncMockLLM(responses=reply)
        with Pipeline(name="retry") as pipeline:
            LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(6)]) >> TextGeneration(
                llm=llm
            )
        return pipeline, llm

    pipeline, llm = build()
    distiset = pipeline.run(progress=False)
    assert distiset.summary is not None and distiset.summary.failed_rows == {"text_generation_0": 2}
    failing.clear()
    pipeline, llm = build()
    rows = pipeline.run(progress=False)["default"]["train"].to_list()
    assert sorted(call.prompt for call in llm.calls) == ["q1", "q4"]
    assert [r["generation"] for r in rows] == [f"ok q{i}" for i in range(6)]


@pytest.mark.parametrize("llm_class", [AsyncMockLLM, MockLLM])
def test_identical_prompts_get_one_request_each_and_all_hit_on_rerun(
    llm_class: type, cache_dir: Path
) -> None:
    def build() -> tuple[Pipeline, Any]:
        counter = iter(range(1000))
        llm = llm_class(responses=lambda m: f"poem {next(counter)}")
        with Pipeline(name=f"dupes-{llm_class.__name__}") as pipeline:
            LoadDataFromDicts(
                data=[{"instruction": "Write a poem"}] * 8, batch_size=3
            ) >> TextGeneration(llm=llm)
        return pipeline, llm

    pipeline, llm = build()
    first = [r["generation"] for r in pipeline.run(progress=False)["default"]["train"]]
    assert len(llm.calls) == 8 and len(set(first)) == 8
    pipeline, llm = build()
    again = [r["generation"] for r in pipeline.run(progress=False)["default"]["train"]]
    assert llm.calls == [] and again == first
    (database,) = cache_dir.glob("pipelines/*/cache.sqlite")
    with sqlite3.connect(database) as conn:  # a finished run leaves no counts behind
        assert conn.execute("SELECT COUNT(*) FROM seen").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM batches").fetchone() == (0,)


def test_api_keys_never_reach_the_cache_or_the_datasets(cache_dir: Path) -> None:
    secret = "sk-do-not-store-4242"
    with Pipeline(name="secret") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "q"}]) >> TextGeneration(
            llm=SecretLLM(api_key=secret)
        )
    distiset = pipeline.run(progress=False)
    distiset.save_to_disk(cache_dir / "exported")
    stored = b"".join(p.read_bytes() for p in cache_dir.rglob("*") if p.is_file())
    assert secret.encode() not in stored
    assert b"mock reply" in stored  # the reply itself was cached and written
