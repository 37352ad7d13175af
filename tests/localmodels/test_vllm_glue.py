"""`vLLM`'s glue to the vllm library, on a machine without vllm or a GPU: a stand-in `vllm`
module records what the class builds (the engine's arguments, each request's
`SamplingParams` and structured-output parameters, the rendered prompts) and answers with
fixed token ids. It checks our side of the interface, not vLLM itself: the real run is
`test_vllm_generates_on_a_gpu`, which needs vllm and a CUDA GPU."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from stillroom.models import vLLM

REPLY = '{"name": "Ada"}'


def _stand_in_vllm(tokenizer_folder: Path, seen: dict[str, Any]) -> types.ModuleType:
    """A module with vllm's names as the class uses them (LLM, SamplingParams,
    sampling_params.StructuredOutputsParams), noting every call in `seen`."""
    from transformers import AutoTokenizer

    module = types.ModuleType("vllm")
    params_module = types.ModuleType("vllm.sampling_params")

    class StructuredOutputsParams:
        def __init__(self, json: dict[str, Any] | None = None, regex: str | None = None) -> None:
            self.json, self.regex = json, regex

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            seen.setdefault("sampling", []).append(kwargs)

    class Completion:
        def __init__(self, text: str) -> None:
            self.text, self.token_ids = text, [1, 2, 3]

    class RequestOutput:
        def __init__(self, prompt: str) -> None:
            self.prompt_token_ids = list(range(len(prompt.split())))
            self.outputs = [Completion(REPLY)]

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            seen["engine"] = kwargs
            self._tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder))

        def get_tokenizer(self) -> Any:
            return self._tokenizer

        def generate(
            self, prompts: list[str], sampling: list[SamplingParams], use_tqdm: bool
        ) -> list[RequestOutput]:
            assert len(prompts) == len(sampling) and use_tqdm is False
            seen.setdefault("prompts", []).extend(prompts)
            return [RequestOutput(prompt) for prompt in prompts]

    params_module.StructuredOutputsParams = StructuredOutputsParams  # type: ignore[attr-defined]
    module.LLM = LLM  # type: ignore[attr-defined]
    module.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    module.sampling_params = params_module  # type: ignore[attr-defined]
    return module


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_the_engine_requests_and_structured_output_reach_vllm_as_its_api_names_them(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "vllm", _stand_in_vllm(scripted_lm, seen))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    llm = vLLM(
        model=str(scripted_lm),
        dtype="float16",
        seed=7,
        disable_cuda_device_placement=True,
        extra_kwargs={"gpu_memory_utilization": 0.5},
        structured_output={"format": "json", "schema": schema},
    )
    llm.load()
    try:
        outputs = llm.generate(
            [[{"role": "user", "content": "Who wrote the first program?"}]],
            num_generations=2,
            max_new_tokens=32,
            temperature=0.2,
            stop=["\n\n"],
        )
    finally:
        llm.unload()

    engine = seen["engine"]
    assert engine["model"] == str(scripted_lm) and engine["dtype"] == "float16"
    assert engine["seed"] == 7 and engine["gpu_memory_utilization"] == 0.5
    # the conversation was rendered with the model's own chat template
    assert seen["prompts"] and all("Who wrote the first program?" in p for p in seen["prompts"])
    for params in seen["sampling"]:
        assert params["max_tokens"] == 32 and params["temperature"] == 0.2
        assert params["stop"] == ["\n\n"] and params["top_k"] == -1  # distilabel's default
        assert params["structured_outputs"].json == schema
    (output,) = outputs
    assert [json.loads(g) for g in output["generations"]] == [{"name": "Ada"}] * 2
    assert output["statistics"]["output_tokens"] == [3, 3]


@pytest.mark.transformers
@pytest.mark.timeout(120)
def test_a_regex_structured_output_reaches_vllm_as_a_pattern(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "vllm", _stand_in_vllm(scripted_lm, seen))
    pattern = r'\{"name": "[A-Z][a-z]+"\}'
    llm = vLLM(model=str(scripted_lm), disable_cuda_device_placement=True)
    llm.load()
    try:
        (output,) = llm.generate(
            [([{"role": "user", "content": "A name?"}], {"format": "regex", "schema": pattern})]
        )
    finally:
        llm.unload()
    (params,) = seen["sampling"]
    assert params["structured_outputs"].regex == pattern
    assert params["structured_outputs"].json is None
    assert output["generations"] == [REPLY]


def test_vllm_is_not_loaded_until_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # building the class never imports vllm
    llm = vLLM(model="some/model", disable_cuda_device_placement=True)
    assert llm.model_name == "some/model"
