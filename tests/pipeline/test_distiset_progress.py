"""The progress/summary output of a run (the Distiset itself: tests/distiset/)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from stillroom.distiset import Distiset
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(60)


def small_run(**run_kwargs: Any) -> Distiset:
    with Pipeline(name="small") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(6)], batch_size=2)
        load >> TextGeneration(
            llm=AsyncMockLLM(responses="ok", latency=0.1, max_concurrent_requests=2)
        )
    return pipeline.run(**run_kwargs)


def test_periodic_log_lines_and_a_summary_when_not_on_a_terminal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def reply(messages: list[dict[str, str]]) -> str | Exception:
        return RuntimeError("no answer") if messages[-1]["content"] == "q3" else "ok then"

    with Pipeline(name="small") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(6)], batch_size=2)
        load >> TextGeneration(
            llm=AsyncMockLLM(responses=reply, latency=0.2, max_concurrent_requests=2)
        )
    with caplog.at_level(logging.INFO, logger="stillroom"):
        pipeline.run(progress=None, log_interval=0.05)
    messages = [r.getMessage() for r in caplog.records]
    progress = [m for m in messages if m.startswith("progress: ")]
    pace = r"(?:[\d.,]+ rows/s(?: ETA [\d:]+)? · )?"
    step = (
        rf"text_generation_0 (\d)/6 \({pace}in flight (\d) · tokens (\d+) in, (\d+) out"
        r"(?: · errors (\d))?\)"
    )
    line = re.compile(rf"progress: load_data_from_dicts_0 \d/6 \| {step}$")
    matches = [line.match(m) for m in progress]
    assert matches and all(matches), progress
    assert any(m.group(2) == "2" for m in matches)  # both request slots busy at some point
    assert matches[-1].group(1) == "6" and matches[-1].group(5) == "1"  # the final line
    assert any("Pipeline 'small' finished with 1 failed row in" in m for m in messages)
    assert any("dataset 'default': 6 rows" in m for m in messages)
    assert (
        "  step 'text_generation_0': 1 rows kept with an error (see stillroom_metadata)" in messages
    )
    assert any(m.startswith("  LLM requests: 6 sent, 0 from cache, 1 failed") for m in messages)
    assert "  tokens for mock: 5 in, 10 out" in messages


def test_progress_bars_draw_and_the_summary_prints(capsys: pytest.CaptureFixture[str]) -> None:
    small_run(progress=True)
    err = capsys.readouterr().err
    assert "text_generation" in err and "Pipeline 'small' completed" in err
    assert "6/6" in err and "in flight 0" in err and "tokens 6 in, 6 out" in err
