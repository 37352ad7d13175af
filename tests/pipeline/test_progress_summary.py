"""The run summary's counts per step, cache savings and cost, and the progress figures."""

from __future__ import annotations

import logging

import pytest

from stillroom.models.llms import AsyncMockLLM
from stillroom.models.llms.pricing import PRICES, cost, llm_prices, model_prices
from stillroom.pipeline import Pipeline
from stillroom.pipeline.progress import in_flight
from stillroom.pipeline.requests import RequestStats
from stillroom.run_summary import RunSummary, StepSummary, step_table
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration


def _pipeline(llm: AsyncMockLLM) -> Pipeline:
    def reply(messages: list[dict[str, str]]) -> str | Exception:
        question = messages[-1]["content"]
        return RuntimeError("refused") if question == "q2" else f"answer to {question}"

    llm.responses = reply
    with Pipeline(name="counted") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(5)], batch_size=2)
        load >> TextGeneration(llm=llm)
    return pipeline


def test_the_summary_counts_rows_failures_tokens_and_cost_per_step() -> None:
    llm = AsyncMockLLM(input_price_per_1m=2.0, output_price_per_1m=10.0)
    summary = _pipeline(llm).run(progress=False).summary
    assert summary is not None
    task = summary.steps["text_generation_0"]
    assert (task.rows, task.failed_rows, task.retries, task.cache_hits) == (5, 1, 0, 0)
    assert summary.steps["load_data_from_dicts_0"].rows == 5
    assert task.input_tokens == summary.tokens["mock"]["input"] > 0
    assert task.output_tokens == summary.tokens["mock"]["output"] > 0
    expected = (task.input_tokens * 2.0 + task.output_tokens * 10.0) / 1e6
    assert task.cost == pytest.approx(expected) and summary.cost == pytest.approx(expected)
    assert 0 < task.wall_time <= summary.wall_time
    text = str(summary)
    assert f"cost: ${expected:,.4f}" in text
    header, load_line, task_line = step_table(summary.steps)
    assert header.split() == [
        "step",
        "rows",
        "failed",
        "retries",
        "time",
        "tokens",
        "in",
        "tokens",
        "out",
        "cost",
    ]
    assert task_line.split()[:4] == ["text_generation_0", "5", "1", "0"]
    assert load_line.split()[-1] == "-"  # no LLM, no cost
    assert summary.to_dict()["steps"]["text_generation_0"]["failed_rows"] == 1


def test_a_cached_rerun_reports_replies_from_the_cache_and_the_tokens_saved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = _pipeline(AsyncMockLLM()).run(progress=False).summary
    assert first is not None and first.cost is None  # "mock" has no known price
    with caplog.at_level(logging.INFO, logger="stillroom"):
        again = _pipeline(AsyncMockLLM()).run(progress=False).summary  # progress off: summary on
    assert again is not None
    task = again.steps["text_generation_0"]
    saved = first.tokens["mock"]["input"] + first.tokens["mock"]["output"]
    # four answered replies come from the cache; the failed row is sent again
    assert (task.cache_hits, task.cached_tokens, again.requests_sent) == (4, saved, 1)
    messages = [record.getMessage() for record in caplog.records]
    assert (
        f"  4 replies from the cache, {saved:,} tokens saved (not sent again, not paid again)"
        in messages
    )


def test_prices_come_from_the_llm_or_the_dated_table() -> None:
    assert model_prices("gpt-4o-mini-2024-07-18") == PRICES["gpt-4o-mini"]
    assert model_prices("gpt-4o-2024-08-06") == PRICES["gpt-4o"]
    assert model_prices("my-local-model") is None
    assert llm_prices(AsyncMockLLM(input_price_per_1m=1.5)) == (1.5, 0.0)
    assert cost(None, 10, 10) is None and cost((1.0, 2.0), 1_000_000, 500_000) == 2.0


def test_prices_do_not_change_the_request_cache_key() -> None:
    plain, priced = AsyncMockLLM(), AsyncMockLLM(input_price_per_1m=3.0, output_price_per_1m=4.0)
    assert plain.reply_settings() == priced.reply_settings()


def test_in_flight_never_exceeds_what_the_llm_answers_at_once() -> None:
    stats = RequestStats(model="m", in_flight=8, limit=1)  # llama.cpp: one at a time
    assert in_flight(stats) == (1, 7)
    assert in_flight(RequestStats(model="m", in_flight=3, limit=8)) == (3, 0)
    assert in_flight(RequestStats(model="m", in_flight=3)) == (3, 0)


def test_the_llama_cpp_backend_answers_one_request_at_a_time() -> None:
    from stillroom.models.llms.llamacpp import LlamaCppLLM

    assert LlamaCppLLM._one_request_at_a_time


def test_steps_without_an_llm_have_no_cost() -> None:
    summary = RunSummary(pipeline="p", wall_time=1.0, steps={"s": StepSummary(rows=3)})
    assert summary.cost is None and "  s  " in str(summary)


def test_a_dry_run_prints_its_first_rows_cut_short(capsys: pytest.CaptureFixture[str]) -> None:
    long_answer = "word " * 100
    with Pipeline(name="previewed") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(5)])
        load >> TextGeneration(llm=AsyncMockLLM(responses=long_answer))
    pipeline.dry_run(batch_size=2, progress=None)
    out = capsys.readouterr().out
    assert "dataset 'default' (train), first 2 of 2 rows:" in out
    assert "  row 1:\n    instruction: q1\n" in out
    generation = next(line for line in out.splitlines() if line.startswith("    generation: "))
    assert len(generation) == len("    generation: ") + 100 and generation.endswith("…")
