"""`LlamaCppEmbeddings`: vectors from a GGUF model run by llama.cpp ([local] extra).

With no `model` it embeds with the SmolLM2 GGUF that the `[local]` extra ships (a chat model,
so its vectors are fine for tests and deduplication, not for retrieval quality).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.embeddings.base import Embeddings
from stillroom.models.extras import import_extra
from stillroom.models.llms.llamacpp import EMBEDDED_FILE, embedded_model_path
from stillroom.models.mixins.cuda_device_placement import CudaDevicePlacementMixin

MEAN_POOLING = 1
"""llama.cpp's LLAMA_POOLING_TYPE_MEAN: one vector per text, the mean over its tokens (a chat
model's GGUF has no pooling of its own and would give one vector per token)."""


class LlamaCppEmbeddings(Embeddings, CudaDevicePlacementMixin):
    """Mean-pooled vectors of a GGUF model (a file, a file in `model_path`, or a Hub repo)."""

    model: str | None = Field(
        default=None,
        description="GGUF file name (in model_path or repo_id) or path; None: the embedded "
        "SmolLM2 model of the [local] extra.",
    )
    model_path: RuntimeParameter[str | None] = Field(
        default=None, description="Folder holding the GGUF file named by `model`."
    )
    repo_id: RuntimeParameter[str | None] = Field(
        default=None, description="Hub repository to download `model` from (needs network)."
    )
    n_gpu_layers: RuntimeParameter[int] = Field(
        default=-1, description="Layers offloaded to a GPU (-1: all), if llama.cpp has one."
    )
    n_ctx: int = Field(default=512, description="Context size in tokens (longer texts fail).")
    n_batch: int = Field(default=512, description="Tokens processed at once.")
    seed: int = Field(default=4294967295, description="llama.cpp's seed (unused by embedding).")
    normalize_embeddings: RuntimeParameter[bool] = Field(
        default=False, description="Scale every vector to length 1."
    )
    verbose: RuntimeParameter[bool] = Field(default=False, description="llama.cpp's logs.")
    extra_kwargs: RuntimeParameter[dict[str, Any]] = Field(
        default_factory=dict, description="More arguments for llama_cpp.Llama(...)."
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset(
        {"n_gpu_layers", "n_batch", "verbose", "cuda_devices", "disable_cuda_device_placement"}
    )

    _model: Any = PrivateAttr(default=None)

    @property
    def model_name(self) -> str:
        return Path(self.model or EMBEDDED_FILE).name.removesuffix(".gguf")

    def load(self) -> None:
        super().load()
        llama_cpp = import_extra("llama_cpp", self._label(), "local", "llama-cpp-python")
        settings = {
            "embedding": True,
            "pooling_type": MEAN_POOLING,
            "n_gpu_layers": self.n_gpu_layers,
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "seed": self.seed,
            "verbose": self.verbose,
            **self.extra_kwargs,
        }
        if self.repo_id is not None:
            if self.model is None:
                raise StillroomError(f"{self._label()}: repo_id needs model (the file name).")
            self._model = llama_cpp.Llama.from_pretrained(
                repo_id=self.repo_id, filename=self.model, **settings
            )
            return
        path = self._path()
        if not path.is_file():
            raise StillroomError(
                f"{self._label()}: no GGUF file at {path}. Give model (and model_path) the "
                "file's path, or leave model unset to embed with the [local] extra's model."
            )
        try:
            self._model = llama_cpp.Llama(model_path=str(path), **settings)
        except (ValueError, RuntimeError) as exc:
            raise StillroomError(
                f"{self._label()}: llama.cpp could not load {path}: {exc}"
            ) from exc

    def _path(self) -> Path:
        if self.model is None:
            return embedded_model_path()
        return Path(self.model_path or ".").expanduser() / self.model

    def unload(self) -> None:
        model, self._model = self._model, None
        if model is not None:
            model.close()
        super().unload()

    def encode(self, inputs: list[str]) -> list[list[float]]:
        """One vector per text, each text embedded alone (llama.cpp's context holds one
        sequence unless `extra_kwargs` sets `n_seq_max`)."""
        self._ensure_loaded("encode()")
        return [
            [float(x) for x in self._model.embed(text, normalize=self.normalize_embeddings)]
            for text in inputs
        ]
