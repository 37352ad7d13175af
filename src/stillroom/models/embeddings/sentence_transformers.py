"""`SentenceTransformerEmbeddings`: a sentence-transformers model run in-process
([sentence-transformers] extra), with distilabel's fields and defaults."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PrivateAttr

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.embeddings.base import Embeddings
from stillroom.models.extras import import_extra
from stillroom.models.mixins.cuda_device_placement import CudaDevicePlacementMixin


class SentenceTransformerEmbeddings(Embeddings, CudaDevicePlacementMixin):
    """Vectors from a sentence-transformers model (Hub id or local folder)."""

    model: str = Field(description="Hub repository id or local folder of the model.")
    device: RuntimeParameter[str | None] = Field(
        default=None, description='Where the model runs ("cpu", "cuda", "mps"); None: best.'
    )
    prompts: dict[str, str] | None = Field(default=None, description="Named prompt prefixes.")
    default_prompt_name: str | None = Field(default=None, description="Prompt used by default.")
    trust_remote_code: bool = Field(default=False, description="Run the model's own code.")
    revision: str | None = Field(default=None, description="Hub revision of the model.")
    token: str | None = Field(default=None, description="Hub token for private models.")
    truncate_dim: int | None = Field(default=None, description="Keep the first N dimensions.")
    model_kwargs: dict[str, Any] | None = Field(default=None, description="Model arguments.")
    tokenizer_kwargs: dict[str, Any] | None = Field(default=None, description="Tokenizer args.")
    config_kwargs: dict[str, Any] | None = Field(default=None, description="Config arguments.")
    precision: Literal["float32", "int8", "uint8", "binary", "ubinary"] | None = Field(
        default="float32", description="Precision of the vectors."
    )
    normalize_embeddings: RuntimeParameter[bool] = Field(
        default=True, description="Scale every vector to length 1."
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset(
        {"device", "cuda_devices", "disable_cuda_device_placement"}
    )

    _model: Any = PrivateAttr(default=None)

    @property
    def model_name(self) -> str:
        return self.model

    def load(self) -> None:
        super().load()
        if self.device == "cuda":
            self.place_on_cuda_devices()
        library = import_extra("sentence_transformers", self._label(), "sentence-transformers")
        try:
            self._model = library.SentenceTransformer(
                self.model,
                device=self.device,
                prompts=self.prompts,
                default_prompt_name=self.default_prompt_name,
                trust_remote_code=self.trust_remote_code,
                revision=self.revision,
                token=self.token,
                truncate_dim=self.truncate_dim,
                model_kwargs=self.model_kwargs,
                tokenizer_kwargs=self.tokenizer_kwargs,
                config_kwargs=self.config_kwargs,
            )
        except (OSError, ValueError) as exc:
            raise StillroomError(f"{self._label()}: cannot load {self.model!r}: {exc}") from exc

    def unload(self) -> None:
        self._model = None
        if self.device == "cuda":
            self.release_cuda_devices()
        super().unload()

    def encode(self, inputs: list[str]) -> list[list[float]]:
        self._ensure_loaded("encode()")
        vectors = self._model.encode(
            list(inputs),
            batch_size=max(len(inputs), 1),
            convert_to_numpy=True,
            precision=self.precision,
            normalize_embeddings=self.normalize_embeddings,
        )
        return [[float(x) for x in row] for row in vectors.tolist()]
