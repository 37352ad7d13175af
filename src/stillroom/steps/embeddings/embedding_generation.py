"""`EmbeddingGeneration`: a vector for each row's text, from an `Embeddings` model."""

from __future__ import annotations

from pydantic import Field

from stillroom.errors import StillroomError, StillroomTypeError
from stillroom.models.embeddings.base import Embeddings
from stillroom.steps.base import Step, StepInput
from stillroom.steps.typing import StepColumns, StepOutput


class EmbeddingGeneration(Step):
    """Embed the `text` column of each row with an embedding model.

    The model (`embeddings`, any `stillroom.models.embeddings` class) is loaded with the step
    and encodes each batch in one call, so batching follows `input_batch_size`. A row whose
    text is not a string stops the batch with an error naming the row, before the model runs.

    Attributes:
        embeddings: the embedding model.

    Input columns:
        - text (`str`): the text to embed (map another column with `input_mappings`).

    Output columns:
        - embedding (`list[float]`): the text's vector.
        - model_name (`str`): the embedding model's name.

    Example:
        ```python
        from stillroom.models.embeddings import SentenceTransformerEmbeddings

        step = EmbeddingGeneration(
            embeddings=SentenceTransformerEmbeddings(model="BAAI/bge-small-en-v1.5")
        )
        step.load()
        next(step.process([{"text": "Hello"}]))[0]["embedding"][:3]
        ```
    """

    embeddings: Embeddings = Field(description="The model that computes the vectors.")

    @property
    def inputs(self) -> StepColumns:
        return ["text"]

    @property
    def outputs(self) -> StepColumns:
        return ["embedding", "model_name"]

    def load(self) -> None:
        super().load()
        self.embeddings.load()

    def unload(self) -> None:
        self.embeddings.unload()
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:
        texts = []
        for index, row in enumerate(inputs):
            text = row.get("text")
            if not isinstance(text, str):
                raise StillroomTypeError(
                    f"{self._label()}: row {index} has text={text!r} "
                    f"({type(text).__name__}); expected a string to embed. Map the text "
                    "column with input_mappings={'text': ...} or drop such rows first."
                )
            texts.append(text)
        vectors = self.embeddings.encode(texts) if texts else []
        if len(vectors) != len(texts):
            raise StillroomError(
                f"{self._label()}: {self.embeddings._label()} returned {len(vectors)} vectors "
                f"for {len(texts)} texts."
            )
        for row, vector in zip(inputs, vectors, strict=True):
            row["embedding"] = vector
            row["model_name"] = self.embeddings.model_name
        yield inputs
