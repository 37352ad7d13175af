"""Offline batch generation: OpenAI's Batch API and Anthropic's Message Batches, against the
mock server (`stillroom.testing.batches`) and respx; polling waits are recorded, not slept."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from backend_helpers import FAST

from stillroom.errors import LLMRequestError, StillroomError
from stillroom.exceptions import StillroomOfflineBatchGenerationNotFinishedException
from stillroom.models.llms import offline_batch
from stillroom.models.llms.anthropic import AnthropicLLM
from stillroom.models.llms.base import LLM
from stillroom.models.llms.openai import OpenAILLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import StepFailedError
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.tasks.magpie.generator import MagpieGenerator
from stillroom.testing import MockLLMServer

KEY = "k-mock"
NotFinished = StillroomOfflineBatchGenerationNotFinishedException


def _conversation(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _openai(server: MockLLMServer, **fields: object) -> OpenAILLM:
    return OpenAILLM(
        model="mock-model",
        base_url=server.base_url,
        use_offline_batch_generation=True,
        **{"api_key": KEY, **FAST, **fields},  # type: ignore[arg-type]
    )


def _anthropic(server: MockLLMServer, **fields: object) -> AnthropicLLM:
    return AnthropicLLM(
        model="mock-model",
        base_url=server.url,
        use_offline_batch_generation=True,
        **{"api_key": KEY, **FAST, **fields},  # type: ignore[arg-type]
    )


MAKERS = {"openai": _openai, "anthropic": _anthropic}


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The polling loop's waits, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(offline_batch, "sleep", recorded.append)
    return recorded


# --- one LLM, no pipeline -----------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(MAKERS))
def test_each_input_gets_its_own_reply_and_usage(provider, loaded, waits):
    with MockLLMServer(api_key=KEY) as server:
        llm = loaded(MAKERS[provider](server, offline_batch_generation_block_until_done=30))
        prompts = [f"question {i}" for i in range(5)]
        outputs = llm.generate_outputs([_conversation(p) for p in prompts], num_generations=2)
        counters = server.batches.counters
        assert (counters.batches_created, counters.polls) == (1, 1)
    assert waits == [offline_batch.FIRST_POLL_WAIT]  # created, then one poll found it done
    for prompt, output in zip(prompts, outputs, strict=True):
        assert len(output["generations"]) == 2
        assert all(g is not None and prompt in g for g in output["generations"])
        assert all(n and n > 0 for n in output["statistics"]["input_tokens"])
        assert all(n and n > 0 for n in output["statistics"]["output_tokens"])
        assert not output.get("errors")
    assert llm.jobs_ids is None  # collected: the next call makes a new batch


@pytest.mark.parametrize("provider", sorted(MAKERS))
def test_failed_entries_keep_their_error_and_the_others_their_reply(provider, loaded, waits):
    with MockLLMServer(api_key=KEY, batch_fail_marker="BAD") as server:
        llm = loaded(MAKERS[provider](server, offline_batch_generation_block_until_done=30))
        prompts = ["fine 0", "BAD 1", "fine 2"]
        outputs = llm.generate_outputs([_conversation(p) for p in prompts])
    assert outputs[0]["generations"] == ["echo: fine 0"]
    assert outputs[2]["generations"] == ["echo: fine 2"]
    assert outputs[1]["generations"] == [None]
    assert "mock batch failure" in outputs[1]["errors"][0]


@pytest.mark.parametrize("provider", sorted(MAKERS))
def test_a_running_batch_raises_until_it_ends_and_is_never_sent_twice(provider, loaded):
    with MockLLMServer(api_key=KEY, batch_delay=3600) as server:
        llm = loaded(MAKERS[provider](server))
        inputs = [_conversation(f"q{i}") for i in range(3)]
        with pytest.raises(NotFinished) as first:
            llm.offline_batch_generate(inputs)
        jobs = llm.jobs_ids
        assert jobs and first.value.jobs_ids == jobs
        with pytest.raises(NotFinished):
            llm.offline_batch_generate(inputs)
        assert llm.jobs_ids == jobs
        server.configure(batch_delay=0)
        outputs = llm.offline_batch_generate(inputs)
        counters = server.batches.counters
        assert (counters.batches_created, counters.polls) == (1, 2)
    assert [o["generations"] for o in outputs] == [[f"echo: q{i}"] for i in range(3)]


def test_polling_backs_off_up_to_the_interval(loaded, monkeypatch):
    with MockLLMServer(api_key=KEY, batch_delay=3600) as server:
        waits: list[float] = []

        def wait(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 5:
                server.configure(batch_delay=0)

        monkeypatch.setattr(offline_batch, "sleep", wait)
        llm = loaded(_openai(server, offline_batch_generation_block_until_done=5))
        outputs = llm.generate_outputs([_conversation("slow")])
        assert server.batches.counters.polls == 5
    assert waits == [1, 2, 4, 5, 5]
    assert outputs[0]["generations"] == ["echo: slow"]


def test_a_resumed_llm_polls_the_checkpointed_job(loaded):
    """`learnt_state` carries the job ids; an LLM given them back polls that job."""
    with MockLLMServer(api_key=KEY, batch_delay=3600) as server:
        first = loaded(_anthropic(server))
        with pytest.raises(NotFinished):
            first.offline_batch_generate([_conversation("a"), _conversation("b")])
        state = json.loads(json.dumps(first.learnt_state()))
        second = loaded(_anthropic(server))
        second.restore_learnt_state(state)
        server.configure(batch_delay=0)
        outputs = second.offline_batch_generate([_conversation("a"), _conversation("b")])
        assert server.batches.counters.batches_created == 1
    assert [o["generations"] for o in outputs] == [["echo: a"], ["echo: b"]]


@pytest.mark.parametrize("provider", sorted(MAKERS))
def test_structured_output_goes_with_each_batch_request(provider, loaded, waits):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    with MockLLMServer(api_key=KEY) as server:
        llm = loaded(
            MAKERS[provider](
                server,
                offline_batch_generation_block_until_done=10,
                structured_output={"format": "json", "schema": schema},
            )
        )
        outputs = llm.generate_outputs([_conversation("x")])
    assert json.loads(outputs[0]["generations"][0]) == {"answer": "echo: x"}


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_BATCH_KEY", KEY + "-wrong")


def test_a_refused_key_names_its_variable(loaded, key_env):
    with MockLLMServer(api_key="another") as server:
        llm = loaded(_openai(server, api_key=None, api_key_env="MY_BATCH_KEY"))
        with pytest.raises(LLMRequestError, match="MY_BATCH_KEY") as info:
            llm.offline_batch_generate([_conversation("x")])
        assert server.batches.counters.batches_created == 0
    assert info.value.status_code == 401 and KEY not in str(info.value)


def test_polling_with_nothing_to_poll_is_a_clear_error(loaded):
    llm = loaded(OpenAILLM(model="m", api_key=KEY, use_offline_batch_generation=True))
    with pytest.raises(StillroomError, match="no inputs and no jobs_ids"):
        llm.offline_batch_generate()


# --- respx: the shapes as the providers document them ------------------------------------------


def test_openai_results_are_matched_by_custom_id_whatever_their_order(mock_api, loaded):
    base = "http://openai.test/v1"
    uploads: list[bytes] = []

    def upload(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"].startswith("multipart/form-data")
        uploads.append(request.content)
        return httpx.Response(200, json={"id": "file-in", "purpose": "batch"})

    def create(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body == {
            "input_file_id": "file-in",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
        return httpx.Response(200, json={"id": "batch_1", "status": "validating"})

    def completion(text: str) -> dict[str, object]:
        return {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }

    output = [
        {"custom_id": "row-2-0", "response": {"status_code": 200, "body": completion("two")}},
        {"custom_id": "row-0-0", "response": {"status_code": 200, "body": completion("zero")}},
    ]
    errors = [
        {
            "custom_id": "row-1-0",
            "response": {"status_code": 400, "body": {"error": {"message": "too long"}}},
        }
    ]
    mock_api.post(f"{base}/files").mock(side_effect=upload)
    mock_api.post(f"{base}/batches").mock(side_effect=create)
    mock_api.get(f"{base}/batches/batch_1").respond(
        200,
        json={
            "id": "batch_1",
            "status": "completed",
            "output_file_id": "file-out",
            "error_file_id": "file-err",
        },
    )
    jsonl = "".join(json.dumps(line) + "\n" for line in output)
    mock_api.get(f"{base}/files/file-out/content").respond(200, content=jsonl.encode())
    err_jsonl = "".join(json.dumps(line) + "\n" for line in errors)
    mock_api.get(f"{base}/files/file-err/content").respond(200, content=err_jsonl.encode())

    llm = loaded(
        OpenAILLM(model="gpt-x", base_url=base, api_key=KEY, use_offline_batch_generation=True)
    )
    inputs = [_conversation(t) for t in ("zero", "one", "two")]
    with pytest.raises(NotFinished):
        llm.offline_batch_generate(inputs, max_new_tokens=7)
    jsonl_part = uploads[0].split(b"Content-Type: application/jsonl\r\n\r\n")[1]
    lines = [json.loads(line) for line in jsonl_part.split(b"\r\n--")[0].splitlines()]
    assert b'name="purpose"\r\n\r\nbatch' in uploads[0]
    assert [line["custom_id"] for line in lines] == ["row-0-0", "row-1-0", "row-2-0"]
    assert lines[0]["body"]["max_tokens"] == 7 and lines[0]["url"] == "/v1/chat/completions"
    outputs = llm.offline_batch_generate(inputs)
    assert [o["generations"] for o in outputs] == [["zero"], [None], ["two"]]
    assert outputs[1]["errors"] == ["batch entry failed with HTTP 400: too long"]
    assert outputs[0]["statistics"] == {"input_tokens": [3], "output_tokens": [2]}


def test_an_anthropic_result_missing_or_expired_keeps_the_row_with_why(mock_api, loaded):
    base = "http://anthropic.test"
    mock_api.post(f"{base}/v1/messages/batches").respond(
        200, json={"id": "msgbatch_1", "processing_status": "in_progress"}
    )
    results_url = f"{base}/v1/messages/batches/msgbatch_1/results"
    mock_api.get(f"{base}/v1/messages/batches/msgbatch_1").respond(
        200, json={"id": "msgbatch_1", "processing_status": "ended", "results_url": results_url}
    )
    message = {"content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 1}}
    lines = [
        {"custom_id": "row-1-0", "result": {"type": "expired"}},
        {"custom_id": "row-0-0", "result": {"type": "succeeded", "message": message}},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    mock_api.get(results_url).respond(200, content=body)
    llm = loaded(
        AnthropicLLM(model="c", base_url=base, api_key=KEY, use_offline_batch_generation=True)
    )
    inputs = [_conversation(t) for t in ("a", "b", "c")]
    with pytest.raises(NotFinished):
        llm.offline_batch_generate(inputs)
    outputs = llm.offline_batch_generate(inputs)
    assert [o["generations"] for o in outputs] == [["hi"], [None], [None]]
    assert "expired" in outputs[1]["errors"][0]
    assert outputs[2]["errors"] == ["no result for this input"]


# --- what is refused ----------------------------------------------------------------------------


def test_a_task_that_cannot_batch_its_requests_refuses_the_setting():
    llm = OpenAILLM(model="m", api_key=KEY, use_offline_batch_generation=True)
    with pytest.raises(ValueError, match="cannot use offline batch generation") as info:
        MagpieGenerator(llm=llm)  # pydantic wraps the error in a ValidationError (a ValueError)
    assert "Set use_offline_batch_generation=False" in str(info.value)


def test_an_llm_without_a_batch_api_still_refuses_it():
    from stillroom.models.llms.cohere import CohereLLM

    assert CohereLLM.offline_batch_generate is LLM.offline_batch_generate
    # built as in distilabel (a task refuses what cannot batch), it refuses at the first
    # call, before any request
    llm = CohereLLM(model="m", api_key=KEY, use_offline_batch_generation=True)
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(StillroomError, match="no offline batch generation"):
            llm.generate_outputs([[{"role": "user", "content": "hi"}]])
        assert not router.calls


# --- a pipeline -------------------------------------------------------------------------------


def _pipeline(server: MockLLMServer, cache: Path, provider: str) -> Pipeline:
    """The same pipeline, built afresh (as a rerun of the script would)."""
    with Pipeline(name=f"batch-{provider}", cache_dir=cache) as pipeline:
        prompts = [f"question {i}" for i in range(6)] + ["BAD question"]
        load = LoadDataFromDicts(data=[{"instruction": p} for p in prompts])
        load >> TextGeneration(name="gen", llm=MAKERS[provider](server))
    return pipeline


def _jobs_in_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "waiting for its offline batch" in r.message]


@pytest.mark.parametrize("provider", sorted(MAKERS))
def test_a_run_stopped_while_the_batch_runs_resumes_polling_the_same_job(
    provider, tmp_path, caplog
):
    caplog.set_level("WARNING", logger="stillroom")
    with MockLLMServer(api_key=KEY, batch_delay=3600, batch_fail_marker="BAD") as server:
        # As distilabel's: the run stops and returns what it has (nothing from the task yet).
        first = _pipeline(server, tmp_path / "cache", provider).run(progress=False)
        assert first["default"]["train"].num_rows == 0
        counters = server.batches.counters
        assert (counters.batches_created, counters.polls) == (1, 0)
        (said,) = _jobs_in_log(caplog)
        assert "creates no new batch" in said

        caplog.clear()
        again = _pipeline(server, tmp_path / "cache", provider).run(progress=False)
        assert again["default"]["train"].num_rows == 0
        assert _jobs_in_log(caplog) == [said]  # the same job, polled
        assert (counters.batches_created, counters.polls) == (1, 1)

        server.configure(batch_delay=0)
        distiset = _pipeline(server, tmp_path / "cache", provider).run(progress=False)
        assert (counters.batches_created, counters.polls, counters.entries) == (1, 2, 7)
        assert server.stats().requests_total == 0  # nothing went to the chat endpoints

        # Run again once complete: the replies come from the request cache; only the row
        # whose entry failed is sent again, in a batch of its own.
        _pipeline(server, tmp_path / "cache", provider).run(progress=False)
        assert (counters.batches_created, counters.entries) == (2, 8)
    rows = distiset["default"]["train"].to_list()
    assert len(rows) == 7
    for row in rows:
        if row["instruction"].startswith("BAD"):
            assert row["generation"] is None
            assert "mock batch failure" in row["stillroom_metadata"]["error_gen"]
        else:
            assert row["generation"] == f"echo: {row['instruction']}"
            assert row["stillroom_metadata"].get("error_gen") is None


def test_a_step_that_fails_otherwise_still_raises(tmp_path):
    """Only a running batch stops the run quietly; a refused batch is a failed step."""
    with MockLLMServer(api_key="another") as server:
        with Pipeline(name="refused", cache_dir=tmp_path / "cache") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": "x"}])
            load >> TextGeneration(name="gen", llm=_openai(server))
        with pytest.raises(StepFailedError, match="401"):
            pipeline.run(progress=False)
