"""`OpenAILLM(base_url=...)` against a server nobody on the project wrote: llama-cpp-python's
own OpenAI-compatible server (`python -m llama_cpp.server`) serving the embedded SmolLM2 GGUF
on 127.0.0.1, started once for this module, bounded in time and always stopped."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stillroom.models import OpenAILLM
from stillroom.models.llms.json_schema import schema_errors
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(180)]

STARTUP_SECONDS = 60.0
N_CTX = 512
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The base URL of a llama-cpp-python server on the embedded model (skipped without the
    [local] extra or the server's packages)."""
    pytest.importorskip("llama_cpp", reason="needs the [local] extra (llama-cpp-python)")
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python's [server] extra")
    from stillroom.models.llms.llamacpp import embedded_model_path

    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_model_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(N_CTX)]
    command += ["--n_threads", "1", "--verbose", "False"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                assert process.stderr is not None
                pytest.fail(f"the server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                httpx.get(f"{base_url}/models", timeout=1.0).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer within {STARTUP_SECONDS:g} s")
                time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def run(llm: OpenAILLM, instructions: list[str], **task: Any) -> list[dict[str, Any]]:
    with Pipeline(name="llama-cpp-server") as pipeline:
        data = [{"instruction": text} for text in instructions]
        LoadDataFromDicts(data=data, batch_size=10) >> TextGeneration(name="gen", llm=llm, **task)
    distiset = pipeline.run(progress=False, use_cache=False)
    return list(distiset["default"]["train"].to_list())


def llm(base_url: str, max_new_tokens: int, **fields: Any) -> OpenAILLM:
    return OpenAILLM(
        model="smollm2",
        base_url=base_url,
        generation_kwargs={"max_new_tokens": max_new_tokens, "temperature": 0.7},
        **fields,
    )


def test_plain_generation_with_the_servers_token_counts(server: str) -> None:
    rows = run(llm(server, 8), [f"Name a colour, number {i}." for i in range(6)])
    for row in rows:
        assert isinstance(row["generation"], str) and row["generation"].strip()
        stats = row["stillroom_metadata"]["statistics_gen"]
        # the server's own counts, as it reports them for the same request
        reply = httpx.post(
            f"{server}/chat/completions",
            json={
                "model": "smollm2",
                "messages": [{"role": "user", "content": row["instruction"]}],
                "max_tokens": 1,
            },
            timeout=60,
        ).json()
        assert stats["input_tokens"] == reply["usage"]["prompt_tokens"]
        assert 0 < stats["output_tokens"] <= 8


def test_two_generations_on_a_server_that_ignores_n(server: str) -> None:
    model = llm(server, 8)
    instructions = [f"Say a word about {i}." for i in range(3)]
    rows = run(model, instructions, num_generations=2, group_generations=True)
    assert [len(r["generation"]) for r in rows] == [2, 2, 2]
    assert all(isinstance(g, str) for r in rows for g in r["generation"])
    assert model.learnt_state().get("n_supported") is False


def test_structured_output_alone_lands_on_the_servers_form(server: str) -> None:
    model = llm(server, 64, structured_output={"format": "json", "schema": PERSON})
    rows = run(model, [f"Invent person number {i}: their name and age." for i in range(20)])
    valid = [
        r["generation"] is not None and not schema_errors(json.loads(r["generation"]), PERSON)
        for r in rows
    ]
    assert sum(valid) >= 18, rows
    assert model.learnt_state()["structured_output_mode"] == "json_object"


def test_an_over_long_prompt_is_kept_with_its_error_and_not_retried(server: str) -> None:
    model = llm(server, 8, retry_backoff=5.0)
    started = time.monotonic()
    rows = run(model, ["word " * (N_CTX * 2), "Say hi."])
    assert time.monotonic() - started < 30  # not a single 5 s backoff per retry
    long, short = rows
    assert long["generation"] is None
    assert "context" in long["stillroom_metadata"]["error_gen"]
    assert isinstance(short["generation"], str)
    assert model.retries.total == 0
