"""Embedding requests go through the run's request cache, as LLM requests do: a rerun takes
the vectors from the cache, and a run killed before any checkpoint resends, once resumed,
only what was in flight (counted by the mock server's `/v1/embeddings`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stillroom.distiset import Distiset
from stillroom.models.embeddings import OpenAIEmbeddings
from stillroom.pipeline import Pipeline
from stillroom.pipeline.cached_embeddings import (
    CachedEmbeddings,
    step_embeddings,
    swap_embeddings,
)
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.embeddings.embedding_generation import EmbeddingGeneration
from stillroom.testing import MockLLMServer, start_server_process

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
ROWS = 120


def _run(url: str, texts: list[str], **run: object) -> list[dict[str, object]]:
    embeddings = OpenAIEmbeddings(
        model="embed-small", base_url=url, api_key_env=None, dimensions=4, batch_size=2
    )
    with Pipeline(name="embedding-cache") as pipeline:
        load = LoadDataFromDicts(data=[{"text": t} for t in texts], batch_size=3)
        load >> EmbeddingGeneration(name="embed", embeddings=embeddings, input_batch_size=3)
    distiset = pipeline.run(progress=False, **run)  # type: ignore[arg-type]
    return distiset["default"]["train"].to_list()  # type: ignore[no-any-return]


def test_a_rerun_takes_the_vectors_from_the_cache(cache_dir: Path) -> None:
    texts = ["a cat", "a dog", "a cow", "a cat", "an owl"]
    with MockLLMServer() as server:
        first = _run(server.base_url, texts)
        sent = server.stats().requests_by_endpoint["embeddings"]
        assert sent == 3  # batches of 3 and 2 rows, requests of at most 2 texts: 2 + 1, 2
        again = _run(server.base_url, texts)
        assert server.stats().requests_by_endpoint["embeddings"] == sent  # nothing sent
        more = _run(server.base_url, [*texts, "a hen"])  # another run, same cache
        assert server.stats().requests_by_endpoint["embeddings"] == sent + 1
        assert server.stats().requests_by_prompt["a hen"] == 1
        _run(server.base_url, texts, use_cache=False)
        assert server.stats().requests_by_endpoint["embeddings"] == 2 * sent + 1
    assert [row["embedding"] for row in again] == [row["embedding"] for row in first]
    assert [row["embedding"] for row in more[:5]] == [row["embedding"] for row in first]
    assert all(len(row["embedding"]) == 4 for row in more)  # type: ignore[arg-type]
    assert first[0]["embedding"] == first[3]["embedding"]  # the same text, the same vector


def test_a_failed_request_is_not_cached_and_is_sent_again(cache_dir: Path) -> None:
    with MockLLMServer() as server:
        server.configure(fail_first=1, fail_with="400")  # each request's first attempt refused
        failed = _run(server.base_url, ["a cat", "a dog"])
        server.configure(fail_first=0)
        rows = _run(server.base_url, ["a cat", "a dog"])
        assert server.stats().requests_by_prompt["a cat"] == 2
    assert [row["embedding"] for row in failed] == [None, None]
    assert "HTTP 400" in failed[0]["stillroom_metadata"]["error_embed"]  # type: ignore[index]
    assert [len(row["embedding"]) for row in rows] == [4, 4]  # type: ignore[arg-type]


def _start(url: str, cache_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        "STILLROOM_CACHE_DIR": str(cache_dir),
        "MOCK_SERVER_URL": url,
    }
    return subprocess.Popen(
        [sys.executable, str(HERE / "embedding_resume_script.py"), str(ROWS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_run_resumes_without_resending_answered_embedding_requests(
    cache_dir: Path,
) -> None:
    with start_server_process(latency=0.05) as server:
        process = _start(server.base_url, cache_dir)
        deadline = time.monotonic() + 60
        while server.stats(include_prompts=False).successes < 8:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        answered = server.stats(include_prompts=False).successes
        assert 8 <= answered < ROWS // 5
        out, err = _start(server.base_url, cache_dir).communicate(timeout=60)
        assert json.loads(out.splitlines()[-1]) == {"completed": True, "rows": ROWS}, err
        stats = server.stats()
    # one request per unit of 5 texts, counted by its first text: the replies of one request
    # are journaled with one write, so no kill leaves part of a unit to send as a smaller
    # request of its own (which would start inside that unit, e.g. at "t73")
    sent = stats.requests_by_prompt
    assert set(sent) == {f"t{i}" for i in range(0, ROWS, 5)}
    # only the request in flight when the process died goes out again
    repeated = {text: n for text, n in sent.items() if n > 1}
    assert len(repeated) <= 1 and set(repeated.values()) <= {2}, repeated
    (data_dir,) = cache_dir.glob("pipelines/embedding-resume/*/data")
    rows = Distiset.load_from_disk(data_dir)["default"]["train"].to_list()
    assert [row["text"] for row in rows] == [f"t{i}" for i in range(ROWS)]
    assert all(len(row["embedding"]) == 4 for row in rows)


def test_the_wrapper_shows_the_models_name_settings_and_dump() -> None:
    model = OpenAIEmbeddings(model="embed-small", base_url="http://127.0.0.1:9/v1", dimensions=4)
    wrapper = CachedEmbeddings(wrapped=model, replies=object())  # type: ignore[arg-type]
    step = EmbeddingGeneration(embeddings=model)
    assert wrapper.model_name == "embed-small"
    assert wrapper.reply_settings() == model.reply_settings()
    assert wrapper.dump() == model.dump()  # a step dumped during a run dumps its own model
    assert step_embeddings(step) is model
    swap_embeddings(step, wrapper)
    assert step.embeddings is wrapper and step.dump()["embeddings"] == model.dump()
