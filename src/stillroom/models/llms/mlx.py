"""`MlxLLM`: a model run by Apple's MLX through mlx-lm ([mlx] extra, macOS on Apple silicon).

Importable everywhere; `load()` elsewhere says what it needs before trying to import mlx.
Conversations are rendered with the tokenizer's chat template (Magpie included) and each
generation is one `mlx_lm.generate` call. Structured output is validated and re-asked, not
enforced (mlx-lm has no constrained decoding).
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from pydantic import Field, PrivateAttr

from stillroom.errors import StillroomError
from stillroom.models.extras import import_extra
from stillroom.models.llms.in_process import InProcessLLM, collect_in_batches
from stillroom.models.llms.structured import (
    GenerationCollector,
    Sample,
)
from stillroom.typing import GenerateOutput


def on_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


class MlxLLM(InProcessLLM):
    """An MLX model (Hub id or folder), loaded with `mlx_lm.load`."""

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

    def load(self) -> None:
        """Load the model with mlx-lm (only on macOS on Apple silicon)."""
        super().load()
        if not on_apple_silicon():
            raise StillroomError(
                f"{self._label()} needs macOS on Apple silicon (MLX runs only there); this is "
                f"{sys.platform} on {platform.machine()}. Use TransformersLLM or LlamaCppLLM here."
            )
        mlx_lm = import_extra("mlx_lm", self._label(), "mlx", "mlx-lm")
        self._model, self._tokenizer = mlx_lm.load(
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
    ) -> dict[str, Any]:
        """mlx-lm's generation settings, with distilabel's defaults."""
        return {
            "max_tokens": max_tokens,
            "temp": temp,
            "top_p": top_p,
            "min_p": min_p,
            "min_tokens_to_keep": min_tokens_to_keep,
            "top_k": top_k,
        }

    def _generate(
        self, prompts: list[str], collectors: list[GenerationCollector], params: dict[str, Any]
    ) -> list[GenerateOutput | BaseException]:
        mlx_lm = import_extra("mlx_lm", self._label(), "mlx", "mlx-lm")
        sample_utils = import_extra("mlx_lm.sample_utils", self._label(), "mlx", "mlx-lm")
        sampling = {k: params.pop(k) for k in ("temp", "top_p", "min_p", "min_tokens_to_keep")}
        sampler = sample_utils.make_sampler(top_k=params.pop("top_k"), **sampling)

        def generate(indices: list[int]) -> list[Sample]:
            tokenizer = self._loaded_tokenizer
            return [
                Sample(
                    text := mlx_lm.generate(
                        self._model, tokenizer, prompts[i], sampler=sampler, **params
                    ),
                    len(tokenizer.encode(prompts[i])),
                    len(tokenizer.encode(text)),
                )
                for i in indices
            ]

        return collect_in_batches(collectors, generate)
