"""`vLLM`'s and `vLLMEmbeddings`' glue to the vllm library, on a machine without vllm or a GPU:
`fake_vllm.stand_in_vllm` has vllm 0.33.0's names, signatures and refusals (and the older
`guided_decoding` shape), records what the classes build (engine arguments, each request's
`SamplingParams` and structured-output parameters, the rendered prompts) and answers with
fixed token ids. It checks our side of the interface, not vLLM itself: the real run is
`test_vllm_generates_on_a_gpu`, which needs vllm and a CUDA GPU."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_vllm import REPLY, VECTOR, stand_in_vllm

from stillroom.errors import StillroomError
from stillroom.models import vLLM, vLLMEmbeddings

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@contextlib.contextmanager
def loaded(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    seen: dict[str, Any],
    old: bool = False,
    **fields: Any,
) -> Iterator[vLLM]:
    """A `vLLM` of `folder` on the stand-in (recording into `seen`), loaded, then unloaded."""
    monkeypatch.setitem(sys.modules, "vllm", stand_in_vllm(folder, seen, old=old))
    llm = vLLM(model=str(folder), disable_cuda_device_placement=True, **fields)
    llm.load()
    try:
        yield llm
    finally:
        llm.unload()


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_the_engine_requests_and_structured_output_reach_vllm_as_its_api_names_them(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    with loaded(
        scripted_lm,
        monkeypatch,
        seen,
        dtype="float16",
        seed=7,
        extra_kwargs={"gpu_memory_utilization": 0.5, "max_model_len": 256},
        structured_output={"format": "json", "schema": SCHEMA},
    ) as llm:
        outputs = llm.generate(
            [[{"role": "user", "content": "Who wrote the first program?"}]],
            num_generations=2,
            max_new_tokens=32,
            temperature=0.2,
            stop=["\n\n"],
            extra_sampling_params={"seed": 3},
        )
        prompt_tokens = len(llm._tokenizer.encode(seen["prompts"][0], add_special_tokens=False))

    engine = seen["engine"]
    assert engine["model"] == str(scripted_lm) and engine["dtype"] == "float16"
    assert engine["seed"] == 7 and engine["gpu_memory_utilization"] == 0.5
    assert engine["max_model_len"] == 256 and engine["tokenizer_mode"] == "auto"
    assert seen["generate"] == [{"use_tqdm": False}]
    # the conversation was rendered with the model's own chat template
    assert seen["prompts"] and all("Who wrote the first program?" in p for p in seen["prompts"])
    for params in seen["sampling"]:
        assert params["max_tokens"] == 32 and params["temperature"] == 0.2
        assert params["stop"] == ["\n\n"] and params["top_k"] == -1  # distilabel's default
        assert params["structured_outputs"].json == SCHEMA
    # the seed is offset by the draw: two generations are not one draw repeated
    assert [params["seed"] for params in seen["sampling"]] == [3, 4]
    (output,) = outputs
    assert [json.loads(g) for g in output["generations"]] == [{"name": "Ada"}] * 2
    assert output["statistics"]["output_tokens"] == [3, 3]
    assert output["statistics"]["input_tokens"] == [prompt_tokens] * 2  # len(prompt_token_ids)


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_a_regex_structured_output_reaches_vllm_as_a_pattern(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    pattern = r'\{"name": "[A-Z][a-z]+"\}'
    with loaded(scripted_lm, monkeypatch, seen) as llm:
        (output,) = llm.generate(
            [([{"role": "user", "content": "A name?"}], {"format": "regex", "schema": pattern})]
        )
    (params,) = seen["sampling"]
    assert params["structured_outputs"].regex == pattern
    assert params["structured_outputs"].json is None
    assert output["generations"] == [REPLY]


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_a_request_vllm_failed_is_an_error_not_an_empty_reply(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {"fail_requests": True}
    with loaded(scripted_lm, monkeypatch, seen) as llm:
        with pytest.raises(StillroomError, match=r'vLLM failed the request .*"error"'):
            llm.generate([[{"role": "user", "content": "please fail"}]])
        failed, output = llm.generate_results(
            [[{"role": "user", "content": "please fail"}], [{"role": "user", "content": "fine"}]]
        )
    # One failed request in a call is that input's error; the other input keeps its reply.
    assert isinstance(failed, StillroomError) and "please fail" in str(failed)
    assert not isinstance(output, BaseException) and output["generations"] == [REPLY]


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_raw_prompts_reach_vllm_as_written(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {"fail_requests": True}
    with loaded(scripted_lm, monkeypatch, seen) as llm:
        raw, failed = llm.generate_results_from_prompts(
            ["<|im_start|>user\n", "<|im_start|>user\nfail"], num_generations=2
        )
    assert seen["prompts"][:2] == ["<|im_start|>user\n"] * 2  # no chat template around them
    assert not isinstance(raw, BaseException) and raw["generations"] == [REPLY, REPLY]
    assert isinstance(failed, StillroomError)


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_an_older_vllm_gets_guided_decoding(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    structured = {"format": "json", "schema": SCHEMA}
    with loaded(scripted_lm, monkeypatch, seen, old=True, structured_output=structured) as llm:
        (output,) = llm.generate([[{"role": "user", "content": "A name?"}]])
    (params,) = seen["sampling"]
    assert "structured_outputs" not in params and params["guided_decoding"].json == SCHEMA
    assert output["generations"] == [REPLY]


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_an_engine_argument_vllm_does_not_take_is_its_error(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", stand_in_vllm(scripted_lm, {}))
    llm = vLLM(
        model=str(scripted_lm),
        disable_cuda_device_placement=True,
        extra_kwargs={"task": "embed"},  # removed from EngineArgs by vLLM 0.33
    )
    with pytest.raises(TypeError, match="'task'"):
        llm.load()


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_embeddings_reach_vllm_and_a_failed_request_is_an_error(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "vllm", stand_in_vllm(scripted_lm, seen))
    model = vLLMEmbeddings(
        model=str(scripted_lm),
        seed=5,
        disable_cuda_device_placement=True,
        extra_kwargs={"runner": "pooling"},
    )
    model.load()
    try:
        assert model.encode(["a", "b"]) == [VECTOR, VECTOR]
        seen["embed_error"] = type("RequestError", (), {"message": "prompt too long"})()
        with pytest.raises(StillroomError, match="could not embed 'fail': prompt too long"):
            model.encode(["a", "fail"])
    finally:
        model.unload()
    engine = seen["engine"]
    assert engine["seed"] == 5 and engine["enforce_eager"] is True
    assert engine["runner"] == "pooling"
    assert seen["embed"][0] == {"use_tqdm": False}


def test_vllm_is_not_loaded_until_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # building the class never imports vllm
    llm = vLLM(model="some/model", disable_cuda_device_placement=True)
    assert llm.model_name == "some/model"


def test_the_stand_in_matches_the_installed_vllm(tmp_path: Path) -> None:
    """Where vllm is installed (no GPU needed), the stand-in's names are the real ones."""
    import dataclasses
    import inspect

    vllm = pytest.importorskip("vllm", reason="compares the stand-in with an installed vllm")
    import fake_vllm
    from vllm.engine.arg_utils import EngineArgs

    real_llm = set(inspect.signature(vllm.LLM.__init__).parameters)
    assert real_llm >= fake_vllm.LLM_PARAMETERS
    assert {f.name for f in dataclasses.fields(EngineArgs)} >= fake_vllm.ENGINE_ARGS
    assert set(vllm.SamplingParams.__struct_fields__) >= fake_vllm.SAMPLING_FIELDS
    fake = stand_in_vllm(tmp_path, {})
    for name in ("generate", "embed", "get_tokenizer"):
        real = inspect.signature(getattr(vllm.LLM, name)).parameters.values()
        ours = inspect.signature(getattr(fake.LLM, name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in real] == [
            (p.name, p.kind, p.default) for p in ours
        ], name
