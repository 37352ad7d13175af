"""`vLLM`: a model run in this process by vLLM's offline engine ([vllm] extra, a GPU).

`vllm.LLM` is built in `load()` from the fields and `extra_kwargs`; conversations are rendered
with the tokenizer's chat template (or `chat_template`), Magpie included, and the prompts of
one call go to `LLM.generate` at once with one `SamplingParams` each. A structured output is
enforced by vLLM's guided decoding (the JSON schema constrains every token) and still
validated, so an invalid reply is asked for again like on any backend; a request vLLM
failed or aborted (`finish_reason` "error" or "abort") is an error, not a reply. To talk to a vLLM
*server* instead, use `OpenAILLM` (spec `vllm:MODEL`); this class's spec is `vllm-local:MODEL`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.extras import import_extra
from stillroom.models.llms.in_process import InProcessLLM, collect_in_batches
from stillroom.models.llms.structured import (
    GenerationCollector,
    Sample,
)
from stillroom.models.mixins.cuda_device_placement import CudaDevicePlacementMixin
from stillroom.typing import GenerateOutput


class vLLM(InProcessLLM, CudaDevicePlacementMixin):
    """A Hub model or local folder served in-process by vLLM's engine."""

    model: str = Field(description="Hub repository id or local folder of the model.")
    dtype: str = Field(default="auto", description='Weights dtype ("auto", "float16", ...).')
    trust_remote_code: bool = Field(default=False, description="Run the model's own code.")
    quantization: str | None = Field(default=None, description="vLLM quantization method.")
    revision: str | None = Field(default=None, description="Hub revision of the model.")
    tokenizer: str | None = Field(default=None, description="Tokenizer id or folder.")
    tokenizer_mode: str = Field(
        default="auto",
        description='vLLM\'s tokenizer mode ("auto", "hf", "mistral", ...; older vLLM: "slow").',
    )
    tokenizer_revision: str | None = Field(default=None, description="Tokenizer revision.")
    skip_tokenizer_init: bool = Field(default=False, description="Do not load a tokenizer.")
    chat_template: str | None = Field(
        default=None, description="A Jinja chat template replacing the tokenizer's."
    )
    seed: int = Field(default=0, description="Seed of the engine's random numbers.")
    extra_kwargs: RuntimeParameter[dict[str, Any]] = Field(
        default_factory=dict, description="More arguments for vllm.LLM(...)."
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset(
        {"cuda_devices", "disable_cuda_device_placement"}
    )

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    def _constrains_to_regex(self) -> bool:
        """vLLM's structured outputs hold decoding to the pattern."""
        return True

    @property
    def model_name(self) -> str:
        return self.model

    def load(self) -> None:
        """Place the model on its GPUs and start vLLM's engine."""
        super().load()
        vllm = import_extra("vllm", self._label(), "vllm")
        self._desired_num_gpus = int(self.extra_kwargs.get("tensor_parallel_size", 1))
        self.place_on_cuda_devices()
        self._model = vllm.LLM(
            model=self.model,
            dtype=self.dtype,
            trust_remote_code=self.trust_remote_code,
            quantization=self.quantization,
            revision=self.revision,
            tokenizer=self.tokenizer,
            tokenizer_mode=self.tokenizer_mode,
            tokenizer_revision=self.tokenizer_revision,
            skip_tokenizer_init=self.skip_tokenizer_init,
            seed=self.seed,
            **self.extra_kwargs,
        )
        self._tokenizer = self._model.get_tokenizer()
        if self.chat_template is not None:
            self._tokenizer.chat_template = self.chat_template

    def unload(self) -> None:
        self._model = self._tokenizer = None
        self.release_cuda_devices()
        super().unload()

    @property
    def _loaded_tokenizer(self) -> Any:
        self._ensure_loaded("using the tokenizer")
        if self._tokenizer is None:
            raise StillroomError(f"{self._label()}: skip_tokenizer_init=True leaves no tokenizer.")
        return self._tokenizer

    def request_settings(
        self,
        *,
        max_new_tokens: int = 128,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repetition_penalty: float = 1.0,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = -1,
        min_p: float = 0.0,
        stop: list[str] | None = None,
        stop_token_ids: list[int] | None = None,
        include_stop_str_in_output: bool = False,
        skip_special_tokens: bool = True,
        extra_sampling_params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """vLLM's sampling parameters, with distilabel's defaults."""
        return {
            "max_tokens": max_new_tokens,
            "presence_penalty": presence_penalty,
            "frequency_penalty": frequency_penalty,
            "repetition_penalty": repetition_penalty,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k,
            "min_p": min_p,
            "stop": stop,
            "stop_token_ids": stop_token_ids,
            "include_stop_str_in_output": include_stop_str_in_output,
            "skip_special_tokens": skip_special_tokens,
            **(extra_sampling_params or {}),
        }

    def _generate(
        self, prompts: list[str], collectors: list[GenerationCollector], params: dict[str, Any]
    ) -> list[GenerateOutput | BaseException]:
        vllm = import_extra("vllm", self._label(), "vllm")
        seed = params.get("seed")

        def sampling(index: int, draw: int) -> Any:
            """An input's `draw`-th sample's parameters: with a seed, offset by the draw, so
            the generations of one input, and a re-ask, are not one draw repeated."""
            settings = params if seed is None else {**params, "seed": (seed + draw) % 2**32}
            return vllm.SamplingParams(**settings, **_guided(vllm, collectors[index]))

        shared = [sampling(i, 0) for i in range(len(collectors))] if seed is None else []

        def generate(indices: list[int]) -> list[Sample | BaseException]:
            if seed is None:
                chosen = [shared[i] for i in indices]
            else:
                drawn = {i: collectors[i].issued for i in set(indices)}
                chosen = []
                for i in indices:
                    chosen.append(sampling(i, drawn[i]))
                    drawn[i] += 1
            outputs = self._model.generate([prompts[i] for i in indices], chosen, use_tqdm=False)
            return [
                self._sample(prompts[i], output) for i, output in zip(indices, outputs, strict=True)
            ]

        return collect_in_batches(collectors, generate)

    def _sample(self, prompt: str, output: Any) -> Sample | StillroomError:
        """One `RequestOutput`'s first completion; vLLM marks a request it failed (a grammar
        it could not compile, a lost KV transfer) with `finish_reason == "error"` and an
        empty text, and one it aborted with "abort" and what it had so far: either becomes
        that input's error rather than a (partial) reply."""
        completion = output.outputs[0]
        if completion.finish_reason in ("error", "abort"):
            return StillroomError(
                f"{self._label()}: vLLM failed the request for prompt {prompt[:80]!r} "
                f'(finish_reason "{completion.finish_reason}": e.g. a structured output vLLM '
                "could not compile, or the engine shutting down)."
            )
        return Sample(completion.text, len(output.prompt_token_ids), len(completion.token_ids))


def _guided(vllm: Any, collector: GenerationCollector) -> dict[str, Any]:
    """The SamplingParams argument constraining decoding to the collector's JSON schema or
    pattern, in the form this vLLM takes: `structured_outputs=StructuredOutputsParams(...)`
    (vLLM 0.33 has only this), or `guided_decoding=GuidedDecodingParams(...)` on the releases
    before the rename (vllm-project/vllm#22772)."""
    spec = collector.spec
    if spec is None:
        return {}
    target = {"regex": spec.regex} if spec.regex is not None else {"json": spec.schema}
    params = vllm.sampling_params
    if hasattr(params, "StructuredOutputsParams"):
        return {"structured_outputs": params.StructuredOutputsParams(**target)}
    return {"guided_decoding": params.GuidedDecodingParams(**target)}
