"""`vLLMEmbeddings`: vectors from an embedding model run by vLLM's engine ([vllm], a GPU).

`LLM.embed` gives one `EmbeddingRequestOutput` per text (`outputs.embedding`); since vLLM
0.33 a request that failed comes back with an empty vector and `error` set, which is raised
here rather than passed on as a vector. A generative model is embedded with
`extra_kwargs={"runner": "pooling"}` (vLLM 0.33; `{"task": "embed"}` on older releases)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.embeddings.base import Embeddings
from stillroom.models.extras import import_extra
from stillroom.models.mixins.cuda_device_placement import CudaDevicePlacementMixin


class vLLMEmbeddings(Embeddings, CudaDevicePlacementMixin):
    """An embedding model (Hub id or folder) served in-process by vLLM."""

    model: str = Field(description="Hub repository id or local folder of the model.")
    dtype: str = Field(default="auto", description='Weights dtype ("auto", "float16", ...).')
    trust_remote_code: bool = Field(default=False, description="Run the model's own code.")
    quantization: str | None = Field(default=None, description="vLLM quantization method.")
    revision: str | None = Field(default=None, description="Hub revision of the model.")
    enforce_eager: bool = Field(default=True, description="Run without CUDA graphs.")
    seed: int = Field(default=0, description="Seed of the engine.")
    extra_kwargs: RuntimeParameter[dict[str, Any]] = Field(
        default_factory=dict, description="More arguments for vllm.LLM(...)."
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset(
        {"enforce_eager", "cuda_devices", "disable_cuda_device_placement"}
    )

    _model: Any = PrivateAttr(default=None)

    @property
    def model_name(self) -> str:
        return self.model

    def load(self) -> None:
        super().load()
        vllm = import_extra("vllm", self._label(), "vllm")
        self.place_on_cuda_devices()
        self._model = vllm.LLM(
            model=self.model,
            dtype=self.dtype,
            trust_remote_code=self.trust_remote_code,
            quantization=self.quantization,
            revision=self.revision,
            enforce_eager=self.enforce_eager,
            seed=self.seed,
            **self.extra_kwargs,
        )

    def unload(self) -> None:
        self._model = None
        self.release_cuda_devices()
        super().unload()

    def encode(self, inputs: list[str]) -> list[list[float]]:
        self._ensure_loaded("encode()")
        outputs = self._model.embed(list(inputs), use_tqdm=False)
        for text, output in zip(inputs, outputs, strict=True):
            error = getattr(output, "error", None)  # vLLM >= 0.33
            if error is not None:
                raise StillroomError(
                    f"{self._label()}: vLLM could not embed {text[:80]!r}: {error.message}"
                )
        return [[float(x) for x in output.outputs.embedding] for output in outputs]
