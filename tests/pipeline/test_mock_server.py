"""The pipeline against the mock OpenAI-compatible server: faults, resume, counted by the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import Join

from stillroom.distiset import Distiset
from stillroom.models import OpenAILLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer, start_server_process

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
ROWS = 200


def test_ten_percent_429_and_500_lose_no_row_in_a_fan_out_fan_in_graph() -> None:
    with MockLLMServer(
        latency=0.005, rate_429=0.05, rate_500=0.05, retry_after=0.01, seed=3
    ) as server:

        def llm() -> OpenAILLM:
            return OpenAILLM(
                model="mock-model",
                base_url=server.base_url,
                max_concurrent_requests=16,
                retry_backoff=0.01,
            )

        with Pipeline(name="faults") as pipeline:
            load = LoadDataFromDicts(
                data=[{"instruction": f"q{i}"} for i in range(ROWS)], batch_size=16
            )
            branches = [
                TextGeneration(name="plain", llm=llm()),
                TextGeneration(name="tagged", llm=llm(), template="Tagged: {{ instruction }}"),
            ]
            load >> branches >> Join()
        distiset = pipeline.run(progress=False)
        stats = server.stats()
    rows = distiset["default"]["train"].to_list()
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(ROWS)]
    assert all(r["joined"] == [f"echo: q{i}", f"echo: Tagged: q{i}"] for i, r in enumerate(rows))
    assert distiset.summary is not None and distiset.summary.total_failed_rows == 0
    assert stats.errors_by_status.get(429) and stats.errors_by_status.get(500)
    assert stats.successes == 2 * ROWS and stats.distinct_prompts == 2 * ROWS


def start(server_url: str, cache_dir: Path, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        "STILLROOM_CACHE_DIR": str(cache_dir),
        "MOCK_SERVER_URL": server_url,
    }
    return subprocess.Popen(
        [sys.executable, str(HERE / "resume_script.py"), str(tmp_path / "unused"), str(ROWS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_replies(server: object, process: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 30
    while server.stats(include_prompts=False).successes < count:  # type: ignore[attr-defined]
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)


def resume_and_check(server_url: str, cache_dir: Path, tmp_path: Path) -> None:
    out, err = start(server_url, cache_dir, tmp_path).communicate(timeout=60)
    assert json.loads(out.splitlines()[-1]) == {"completed": True, "rows": ROWS, "resumed": True}, (
        err
    )
    (data_dir,) = cache_dir.glob("pipelines/resume/*/data")
    rows = Distiset.load_from_disk(data_dir)["default"]["train"].to_list()
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(ROWS)]
    assert all(r["shout"] == f"ECHO: Q{i}" for i, r in enumerate(rows))


@pytest.mark.parametrize("stop", ["sigkill", "ctrl-c"])
def test_stopped_run_resumes_without_resending_finished_requests(
    stop: str, cache_dir: Path, tmp_path: Path
) -> None:
    with start_server_process(latency=0.03) as server:
        process = start(server.base_url, cache_dir, tmp_path)
        wait_for_replies(server, process, 80)
        process.send_signal(signal.SIGKILL if stop == "sigkill" else signal.SIGINT)
        process.communicate(timeout=60)
        before = server.stats(include_prompts=False).successes
        assert 80 <= before < ROWS
        resume_and_check(server.base_url, cache_dir, tmp_path)
        stats = server.stats()
    sent = stats.requests_by_prompt  # the server answered every request (no faults here)
    repeated = [prompt for prompt, n in sent.items() if n > 1]
    assert set(sent) == {f"q{i}" for i in range(ROWS)}
    if stop == "ctrl-c":
        # the requests in flight finished and were saved before the process ended
        assert repeated == []
    else:
        # only the (at most 8) requests in flight when the process died are sent again
        assert len(repeated) <= 8 and all(sent[p] == 2 for p in repeated)
