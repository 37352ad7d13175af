"""A run whose rows failed says so: summary, exit status, max_failed_fraction, and reruns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stillroom.errors import StillroomError
from stillroom.models import AsyncMockLLM, OpenAILLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import TooManyFailuresError
from stillroom.pipeline.failures import FailureWatch
from stillroom.run_summary import MAX_MESSAGES, ErrorTally
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"


def prompts(count: int) -> list[dict[str, str]]:
    return [{"instruction": f"q{i}"} for i in range(count)]


def scripted(rows: int, reply: Any, name: str = "flaky", batch_size: int = 10) -> Pipeline:
    with Pipeline(name=name) as pipeline:
        LoadDataFromDicts(data=prompts(rows), batch_size=batch_size) >> TextGeneration(
            name="gen", llm=AsyncMockLLM(responses=reply, max_concurrent_requests=2)
        )
    return pipeline


def served(rows: int, base_url: str) -> Pipeline:
    with Pipeline(name="served") as pipeline:
        llm = OpenAILLM(model="mock-model", base_url=base_url, max_retries=0)
        LoadDataFromDicts(data=prompts(rows), batch_size=10) >> TextGeneration(name="gen", llm=llm)
    return pipeline


# --- the tally --------------------------------------------------------------------------------


def test_the_tally_keeps_a_few_distinct_messages_and_counts_the_rest() -> None:
    tally = ErrorTally()
    for i in range(1000):
        tally.add(f"error {i % 20}")
    tally.add("x" * 10_000)
    assert list(tally.counts) == [f"error {i}" for i in range(MAX_MESSAGES)]
    assert all(count == 50 for count in tally.counts.values())
    assert tally.other == 1000 - 50 * MAX_MESSAGES + 1 and tally.total == 1001
    assert tally.take_recent() == (1001, "error 0") and tally.take_recent() == (0, None)
    assert tally.lines("  ")[-1] == f"  {tally.other:,} rows: other errors"


# --- the summary ------------------------------------------------------------------------------


def test_a_run_where_every_request_failed_does_not_say_completed() -> None:
    def reply(messages: list[dict[str, str]]) -> Any:
        number = int(messages[-1]["content"][1:])
        return ConnectionError("server down") if number % 3 else TimeoutError("slow")

    distiset = scripted(30, reply).run(progress=False)
    summary = distiset.summary
    assert summary is not None and summary.completed
    assert summary.failed_rows == {"gen": 30}
    assert summary.error_messages["gen"].counts == {
        "TimeoutError: slow": 10,
        "ConnectionError: server down": 20,
    }
    text = str(summary)
    assert text.startswith("Pipeline 'flaky' finished with 30 failed rows in")
    assert "completed" not in text.splitlines()[0]
    assert "    20 rows: ConnectionError: server down" in text
    assert "    10 rows: TimeoutError: slow" in text
    assert "Run the pipeline again to retry the failed rows" in text


def test_the_summary_counts_retries_per_step() -> None:
    class Counter:
        def __init__(self) -> None:
            self.pending = {"429": 4, "500": 1}
            self.counts = dict(self.pending)

        def take_since_last(self) -> dict[str, int]:
            taken, self.pending = self.pending, {}
            return taken

    class Step:
        llm = type("LLM", (), {"retries": Counter()})()

    watch = FailureWatch({"gen": Step(), "load": object()})  # retries before the run: ignored
    Step.llm.retries.pending = {"429": 50, "500": 7}
    assert watch.finish() == {"gen": {"429": 50, "500": 7}}
    pipeline = scripted(3, "fine", name="clean")
    summary = pipeline.run(progress=False).summary
    assert summary is not None and summary.retries == {} and summary.total_failed_rows == 0
    assert str(summary).startswith("Pipeline 'clean' completed in")


# --- max_failed_fraction ----------------------------------------------------------------------


def test_too_many_failures_stop_the_run_and_the_next_run_retries_them() -> None:
    down = {True}

    def reply(messages: list[dict[str, str]]) -> Any:
        number = int(messages[-1]["content"][1:])
        return RuntimeError("503 from upstream") if down and number % 4 else f"ok {number}"

    first = scripted(400, reply)
    llm = first.get_step("gen").llm  # type: ignore[attr-defined]
    with pytest.raises(TooManyFailuresError) as caught:
        first.run(progress=False, max_failed_fraction=0.5)
    error = caught.value
    assert error.step_name == "gen" and error.threshold == 0.5 and error.rows >= 50
    assert error.failed / error.rows > 0.5
    message = str(error)
    assert "step 'gen'" in message and "max_failed_fraction=0.5" in message
    assert "rows: RuntimeError: 503 from upstream" in message
    assert "run the pipeline again" in message and "failed rows are sent again" in message
    sent = [call.prompt for call in llm.calls]
    assert len(sent) < 400  # stopped long before the end
    answered = {p for p in sent if int(p[1:]) % 4 == 0}

    down.clear()
    second = scripted(400, reply)
    distiset = second.run(progress=False, max_failed_fraction=0.5)
    resent = {call.prompt for call in second.get_step("gen").llm.calls}  # type: ignore[attr-defined]
    assert resent == {f"q{i}" for i in range(400)} - answered  # failed ones sent again
    summary = distiset.summary
    assert summary is not None and not summary.resumed and summary.cache_hits == len(answered)
    rows = distiset["default"]["train"].to_list()
    assert [r["generation"] for r in rows] == [f"ok {i}" for i in range(400)]


def test_the_fraction_applies_only_from_fifty_rows_on() -> None:
    distiset = scripted(40, RuntimeError("down"), name="few").run(
        progress=False, max_failed_fraction=0.0
    )
    assert distiset.summary is not None and distiset.summary.failed_rows == {"gen": 40}


def test_max_failed_fraction_must_be_a_fraction() -> None:
    with pytest.raises(StillroomError, match="between 0 and 1"):
        scripted(1, "x").run(progress=False, max_failed_fraction=1.5)


# --- against the mock server ------------------------------------------------------------------


def test_failed_rows_are_requested_again_once_the_server_is_back() -> None:
    with MockLLMServer(rate_500=1.0) as server:
        dead = served(20, server.base_url).run(progress=False)
        assert dead.summary is not None and dead.summary.failed_rows == {"gen": 20}
        assert "500" in next(iter(dead.summary.error_messages["gen"].counts))
        server.configure(rate_500=0.0)
        server.reset()
        healed = served(20, server.base_url).run(progress=False)
        assert server.stats().requests_total == 20
        rows = healed["default"]["train"].to_list()
        assert [r["generation"] for r in rows] == [f"echo: q{i}" for i in range(20)]
        server.reset()
        cached = served(20, server.base_url).run(progress=False)
        assert server.stats().requests_total == 0
        assert cached.summary is not None and cached.summary.cache_hits == 20


def cli(config: Path, cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "STILLROOM_CACHE_DIR": str(cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "stillroom", "pipeline", "run", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_exit_status_says_whether_rows_failed(tmp_path: Path, cache_dir: Path) -> None:
    with MockLLMServer(rate_500=1.0) as server:
        config = served(60, server.base_url).save(tmp_path / "p.yaml")
        stopped = cli(config, cache_dir, "--max-failed-fraction", "0.5")
        assert stopped.returncode == 4, stopped.stderr
        assert "error: Stopped: step 'gen'" in stopped.stderr
        failed = cli(config, cache_dir)
        assert failed.returncode == 3, failed.stderr
        assert "Pipeline 'served' finished with 60 failed rows" in failed.stderr
        server.configure(rate_500=0.0)
        fine = cli(config, cache_dir)
        assert fine.returncode == 0, fine.stderr
        assert "Pipeline 'served' completed" in fine.stderr
