"""A stand-in `vllm` module for machines without vllm or a GPU, shaped as vllm 0.33.0 is
(checked with `inspect.signature` on the installed 0.33.0, 2026-12-05): the names the glue
uses, their parameter names, keyword-only markers and defaults, and the attributes of the
objects they return. It refuses what the real API refuses (an unknown engine argument such
as the removed `task`, an unknown `SamplingParams` field such as `guided_decoding`, a
`StructuredOutputsParams` without exactly one constraint), records every call in `seen` and
answers with fixed token ids. `old=True` gives the pre-0.10 shape instead: `guided_decoding=`
with `GuidedDecodingParams`, and no `StructuredOutputsParams`.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

REPLY = '{"name": "Ada"}'
VECTOR = [0.5, -0.25, 1.0]

# vllm.LLM.__init__'s named parameters (0.33.0); the rest go through **kwargs to EngineArgs,
# which raises TypeError for a name it lacks (a few of its real fields are listed here).
LLM_PARAMETERS = {
    "tokenizer", "tokenizer_mode", "skip_tokenizer_init", "trust_remote_code", "runner",
    "convert", "tensor_parallel_size", "dtype", "quantization", "revision",
    "tokenizer_revision", "chat_template", "seed", "gpu_memory_utilization", "cpu_offload_gb",
    "enforce_eager", "hf_token", "hf_overrides", "kv_cache_memory_bytes", "logits_processors",
    "structured_outputs_config", "compilation_config",
}  # fmt: skip
ENGINE_ARGS = {"max_model_len", "max_num_seqs", "enable_prefix_caching", "download_dir"}
# SamplingParams' public fields (a msgspec Struct: an unknown keyword is a TypeError).
SAMPLING_FIELDS = {
    "n", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature",
    "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "max_tokens",
    "min_tokens", "logprobs", "prompt_logprobs", "detokenize", "skip_special_tokens",
    "spaces_between_special_tokens", "include_stop_str_in_output", "logit_bias",
    "allowed_token_ids", "extra_args", "bad_words", "structured_outputs",
}  # fmt: skip
CONSTRAINTS = ("json", "regex", "choice", "grammar", "json_object", "structural_tag")


def stand_in_vllm(tokenizer_folder: Path, seen: dict[str, Any], old: bool = False) -> Any:
    """The module; `seen` gets "engine" (LLM's arguments), "sampling" (each SamplingParams'
    arguments), "prompts", "generate" / "embed" (the keyword arguments of each call). With
    "fail_requests" / "embed_error" set in `seen`, a prompt holding "fail" fails as vLLM 0.33
    fails a request."""
    from transformers import AutoTokenizer

    module = types.ModuleType("vllm")
    params_module = types.ModuleType("vllm.sampling_params")
    structured_name = "guided_decoding" if old else "structured_outputs"

    class StructuredOutputsParams:
        def __init__(
            self,
            json: str | dict[str, Any] | None = None,
            regex: str | None = None,
            choice: list[str] | None = None,
            grammar: str | None = None,
            json_object: bool | None = None,
            structural_tag: str | None = None,
        ) -> None:
            values = (json, regex, choice, grammar, json_object, structural_tag)
            given = [n for n, v in zip(CONSTRAINTS, values, strict=True) if v is not None]
            if len(given) != 1:  # vllm raises VLLMValidationError (a ValueError)
                raise ValueError(f"You must use one kind of structured outputs constraint: {given}")
            self.json, self.regex = json, regex

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            allowed = (SAMPLING_FIELDS - {"structured_outputs"}) | {structured_name}
            for name in kwargs:
                if name not in allowed:
                    raise TypeError(f"Unexpected keyword argument {name!r}")
            seen.setdefault("sampling", []).append(kwargs)

    class CompletionOutput:  # a request vLLM failed: no text, finish_reason "error"
        def __init__(self, index: int, text: str, token_ids: list[int], finish: str) -> None:
            self.index, self.text, self.token_ids = index, text, token_ids
            self.cumulative_logprob, self.logprobs = None, None
            self.finish_reason, self.stop_reason = finish, None

    class RequestOutput:
        def __init__(self, request_id: str, prompt: str, prompt_token_ids: list[int]) -> None:
            self.request_id, self.prompt, self.prompt_token_ids = (
                request_id,
                prompt,
                prompt_token_ids,
            )
            self.prompt_logprobs, self.finished = None, True
            failed = "fail" in prompt and "fail_requests" in seen
            reply = CompletionOutput(0, "", [], "error") if failed else None
            self.outputs = [reply or CompletionOutput(0, REPLY, [1, 2, 3], "stop")]

    class EmbeddingOutput:
        def __init__(self, embedding: list[float]) -> None:
            self.embedding = embedding

    class EmbeddingRequestOutput:  # a failed request: empty embedding and `error` set
        def __init__(self, request_id: str, outputs: EmbeddingOutput, error: Any = None) -> None:
            self.request_id, self.outputs, self.error = request_id, outputs, error
            self.prompt_token_ids, self.num_cached_tokens, self.finished = [1], 0, True

    class LLM:
        def __init__(self, model: str, **kwargs: Any) -> None:
            for name in kwargs:
                if name not in LLM_PARAMETERS | ENGINE_ARGS:
                    raise TypeError(
                        f"EngineArgs.__init__() got an unexpected keyword argument {name!r}"
                    )
            seen["engine"] = {"model": model, **kwargs}
            self._tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder))

        def get_tokenizer(self) -> Any:
            return self._tokenizer

        def generate(
            self,
            prompts: str | list[str],
            sampling_params: SamplingParams | list[SamplingParams] | None = None,
            *,
            use_tqdm: bool = True,
            lora_request: Any = None,
            priority: list[int] | None = None,
            tokenization_kwargs: dict[str, Any] | None = None,
            mm_processor_kwargs: dict[str, Any] | None = None,
        ) -> list[RequestOutput]:
            prompts = [prompts] if isinstance(prompts, str) else prompts
            assert not isinstance(sampling_params, list) or len(sampling_params) == len(prompts)
            seen.setdefault("generate", []).append({"use_tqdm": use_tqdm})
            seen.setdefault("prompts", []).extend(prompts)
            tokenizer = self._tokenizer
            return [
                RequestOutput(str(i), p, tokenizer.encode(p, add_special_tokens=False))
                for i, p in enumerate(prompts)
            ]

        def embed(
            self,
            prompts: str | list[str],
            *,
            use_tqdm: bool = True,
            pooling_params: Any = None,
            lora_request: Any = None,
            tokenization_kwargs: dict[str, Any] | None = None,
        ) -> list[EmbeddingRequestOutput]:
            prompts = [prompts] if isinstance(prompts, str) else prompts
            seen.setdefault("embed", []).append({"use_tqdm": use_tqdm})
            return [
                EmbeddingRequestOutput(str(i), EmbeddingOutput([]), error=seen["embed_error"])
                if p == "fail" and "embed_error" in seen
                else EmbeddingRequestOutput(str(i), EmbeddingOutput(list(VECTOR)))
                for i, p in enumerate(prompts)
            ]

    if old:
        params_module.GuidedDecodingParams = StructuredOutputsParams  # type: ignore[attr-defined]
    else:
        params_module.StructuredOutputsParams = StructuredOutputsParams  # type: ignore[attr-defined]
    params_module.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    module.LLM = LLM  # type: ignore[attr-defined]
    module.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    module.sampling_params = params_module  # type: ignore[attr-defined]
    module.__version__ = "0.9.2" if old else "0.33.0"  # type: ignore[attr-defined]
    return module
