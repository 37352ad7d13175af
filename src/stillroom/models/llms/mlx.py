"""`MlxLLM`: a model run by Apple's MLX through mlx-lm (the [mlx] extra).

MLX runs on macOS on Apple silicon (Metal) and on Linux x86_64/aarch64 with its CPU backend
(`mlx[cpu]`, what the extra installs there) or its CUDA one (`mlx[cuda]`). The class imports
everywhere; `load()` imports mlx-lm and, where that fails, names the extra and the platforms.
Conversations are rendered with the tokenizer's chat template (Magpie included); each
generation is one `mlx_lm.stream_generate` run, whose last response gives the token counts.
Structured output is validated and re-asked, not enforced (mlx-lm has no constrained decoding).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr

from stillroom.models.extras import import_extra
from stillroom.models.llms.in_process import InProcessLLM, collect_in_batches
from stillroom.models.llms.structured import GenerationCollector, Sample
from stillroom.typing import GenerateOutput

PLATFORMS = "macOS on Apple silicon, or Linux x86_64/aarch64 with mlx[cpu] or mlx[cuda]"
"""Where MLX publishes wheels (mlx 0.32), said when mlx-lm cannot be imported."""
_SAMPLER_SETTINGS = ("temp", "top_p", "min_p", "min_tokens_to_keep", "top_k")
"""The settings that make `mlx_lm.sample_utils.make_sampler`'s sampler; the others go to
`stream_generate` (and on to `generate_step`)."""


class MlxLLM(InProcessLLM):
    """An MLX model (Hub id or folder, mlx or Hugging Face safetensors), loaded with
    `mlx_lm.load`."""

    path_or_hf_repo: str = Field(description="Hub repository id or local folder of the model.")
    tokenizer_config: dict[str, Any] = Field(
        default_factory=dict, description="Arguments for the tokenizer."
    )
    mlx_model_config: dict[str, Any] = Field(
        default_factory=dict, description="Arguments for the model."
    )
    adapter_path: str | None = Field(default=None, description="A LoRA adapter to apply.")

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    @property
    def model_name(self) -> str:
        return self.path_or_hf_repo

    @classmethod
    def spec_fields(cls, spec: Any) -> dict[str, Any]:
        """`mlx:PATH_OR_REPO`."""
        return {"path_or_hf_repo": spec.require_model()}

    def _mlx_lm(self, module: str = "mlx_lm") -> Any:
        return import_extra(module, f"{self._label()} (MLX runs on {PLATFORMS})", "mlx", "mlx-lm")

    def load(self) -> None:
        """Load the model and its tokenizer with mlx-lm."""
        super().load()
        self._model, self._tokenizer = self._mlx_lm().load(
            self.path_or_hf_repo,
            tokenizer_config=self.tokenizer_config,
            model_config=self.mlx_model_config,
            adapter_path=self.adapter_path,
        )

    def unload(self) -> None:
        self._model = self._tokenizer = None
        super().unload()

    @property
    def _loaded_tokenizer(self) -> Any:
        self._ensure_loaded("using the tokenizer")
        return self._tokenizer

    def request_settings(
        self,
        *,
        max_tokens: int = 256,
        temp: float = 0.0,
        top_p: float = 0.0,
        min_p: float = 0.0,
        min_tokens_to_keep: int = 1,
        top_k: int = -1,
        max_kv_size: int | None = None,
        prefill_step_size: int = 512,
        kv_bits: int | None = None,
        kv_group_size: int = 64,
        quantized_kv_start: int = 0,
    ) -> dict[str, Any]:
        """mlx-lm's generation settings, with distilabel's defaults (`top_k` <= 0 is off).
        distilabel's `logits_processors`, `prompt_cache` and `prompt_progress_callback` are
        not taken: they are objects, not settings a request (and its cache key) can hold."""
        return {
            "max_tokens": max_tokens,
            "temp": temp,
            "top_p": top_p,
            "min_p": min_p,
            "min_tokens_to_keep": min_tokens_to_keep,
            "top_k": top_k,
            "max_kv_size": max_kv_size,
            "prefill_step_size": prefill_step_size,
            "kv_bits": kv_bits,
            "kv_group_size": kv_group_size,
            "quantized_kv_start": quantized_kv_start,
        }

    def _generate(
        self, prompts: list[str], collectors: list[GenerationCollector], params: dict[str, Any]
    ) -> list[GenerateOutput | BaseException]:
        mlx_lm = self._mlx_lm()
        params = dict(params)
        sampling = {name: params.pop(name) for name in _SAMPLER_SETTINGS}
        sampler = self._mlx_lm("mlx_lm.sample_utils").make_sampler(**sampling)

        def sample(prompt: str) -> Sample | BaseException:
            try:
                # one response per token, the last with the counts (mlx-lm refuses max_tokens=0)
                *responses, last = mlx_lm.stream_generate(
                    self._model, self._loaded_tokenizer, prompt, sampler=sampler, **params
                )
            except Exception as exc:  # that prompt's error (none made too): the others go on
                return exc
            text = "".join(response.text for response in (*responses, last))
            return Sample(text, last.prompt_tokens, last.generation_tokens)

        return collect_in_batches(collectors, lambda indices: [sample(prompts[i]) for i in indices])
