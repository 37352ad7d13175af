"""`TextGenerationToArgilla`: instruction-generation pairs as Argilla records to rate."""

from __future__ import annotations

import hashlib
from typing import Any

from stillroom.steps.argilla.base import ArgillaBase
from stillroom.steps.typing import StepColumns

ID_FIELD = "id"


def instruction_id(instruction: str) -> str:
    """A stable id for an instruction (its SHA-256), shared by the records it produced."""
    return hashlib.sha256(instruction.encode("utf-8")).hexdigest()


class TextGenerationToArgilla(ArgillaBase):
    """Log each row's `instruction` and `generation` to Argilla for a good/bad review.

    The dataset (created if missing) has text fields `id` (the instruction's SHA-256),
    `instruction` and `generation`, and a label question `quality` ("good" or "bad"). A row
    whose `generation` is a list becomes one record per distinct generation. Field names
    follow `input_mappings`, so a dataset built from other columns keeps their names. Rows
    pass through unchanged. Needs the `[argilla]` extra.

    Attributes:
        dataset_name, dataset_workspace, api_url, api_key, max_retries, retry_backoff: see
            `ArgillaBase`.

    Input columns:
        - instruction (`str`): the prompt.
        - generation (`str` or `list[str]`): the answer(s) to review.

    Output columns:
        - none: the rows pass through unchanged.

    Example:
        ```python
        from stillroom.pipeline import Pipeline
        from stillroom.steps import LoadDataFromDicts, TextGenerationToArgilla

        with Pipeline(name="review") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": "Hi", "generation": "Hello"}])
            review = TextGenerationToArgilla(
                dataset_name="greetings", api_url="http://localhost:6900", api_key="argilla.apikey"
            )
            load >> review
        ```
    """

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "generation"]

    def _names(self) -> tuple[str, str]:
        return (
            self.input_mappings.get("instruction", "instruction"),
            self.input_mappings.get("generation", "generation"),
        )

    def _field_names(self) -> set[str]:
        return {ID_FIELD, *self._names()}

    def _settings(self) -> Any:
        rg = self._rg
        instruction, generation = self._names()
        return rg.Settings(
            fields=[rg.TextField(name=name, title=name) for name in (ID_FIELD, *self._names())],
            questions=[
                rg.LabelQuestion(
                    name="quality",
                    title=f"Is the {generation} a good answer to the {instruction}?",
                    labels={"bad": "👎", "good": "👍"},
                )
            ],
        )

    def _records(self, rows: list[dict[str, Any]]) -> list[Any]:
        instruction_field, generation_field = self._names()
        records = []
        for row in rows:
            instruction = row["instruction"]
            generations = row["generation"]
            if not isinstance(generations, list):
                generations = [generations]
            for generation in dict.fromkeys(g for g in generations if g is not None):
                fields = {
                    ID_FIELD: instruction_id(instruction),
                    instruction_field: instruction,
                    generation_field: generation,
                }
                records.append(self._rg.Record(fields=fields))
        return records
