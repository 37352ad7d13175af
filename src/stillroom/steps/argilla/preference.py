"""`PreferenceToArgilla`: an instruction and its generations as Argilla records to rate,
with the ratings and rationales already given (by `UltraFeedback`, say) as suggestions."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from stillroom.steps.argilla.base import ArgillaBase
from stillroom.steps.argilla.text_generation import ID_FIELD, instruction_id
from stillroom.steps.typing import StepColumns

RATINGS = (1, 2, 3, 4, 5)


class PreferenceToArgilla(ArgillaBase):
    """Log each row's `instruction` and `generations` to Argilla, to rate each generation.

    The dataset (created if missing) has text fields `id` (the instruction's SHA-256),
    `instruction` and `generations-0` ... `generations-<num_generations - 1>` (only the first
    required), and for each generation a rating question `generations-<i>-rating` (1 to 5)
    and a text question `generations-<i>-rationale`. When a row has `ratings` and
    `rationales`, those are attached as suggestions (a rating outside 1..5, or a None, is
    left out). Rows pass through unchanged. Needs the `[argilla]` extra.

    Attributes:
        num_generations: generations per row (the number of generation fields).
        dataset_name, dataset_workspace, api_url, api_key, max_retries, retry_backoff: see
            `ArgillaBase`.

    Input columns:
        - instruction (`str`): the prompt.
        - generations (`list[str]`): the answers to rate.
        - ratings (`list[int]`, optional): suggested ratings, one per generation.
        - rationales (`list[str]`, optional): suggested rationales, one per generation.

    Output columns:
        - none: the rows pass through unchanged.

    Example:
        ```python
        from stillroom.pipeline import Pipeline
        from stillroom.steps import LoadDataFromDicts, PreferenceToArgilla

        with Pipeline(name="preferences") as pipeline:
            load = LoadDataFromDicts(
                data=[{"instruction": "2+2?", "generations": ["4", "5"], "ratings": [5, 1]}]
            )
            review = PreferenceToArgilla(
                dataset_name="math", num_generations=2, api_url="http://localhost:6900",
                api_key="argilla.apikey",
            )
            load >> review
        ```
    """

    num_generations: PositiveInt = Field(description="Generations per row.")

    @property
    def inputs(self) -> StepColumns:
        return {"instruction": True, "generations": True, "ratings": False, "rationales": False}

    def _generation_names(self) -> list[str]:
        base = self.input_mappings.get("generations", "generations")
        return [f"{base}-{index}" for index in range(self.num_generations)]

    def _instruction_name(self) -> str:
        return self.input_mappings.get("instruction", "instruction")

    def _field_names(self) -> set[str]:
        return {ID_FIELD, self._instruction_name(), *self._generation_names()}

    def _settings(self) -> Any:
        rg = self._rg
        instruction = self._instruction_name()
        fields = [rg.TextField(name=n, title=n) for n in (ID_FIELD, instruction)]
        questions = []
        for index, name in enumerate(self._generation_names()):
            first = index == 0
            note = None if first else f"Skip this one if `{name}` is empty."
            fields.append(rg.TextField(name=name, title=name, required=first))
            questions += [
                rg.RatingQuestion(
                    name=f"{name}-rating",
                    title=f"How good is {name} as an answer to the {instruction}?",
                    description=note,
                    values=list(RATINGS),
                    required=first,
                ),
                rg.TextQuestion(
                    name=f"{name}-rationale",
                    title=f"Why that rating for {name}?",
                    description=note,
                    required=False,
                ),
            ]
        return rg.Settings(fields=fields, questions=questions)

    def _records(self, rows: list[dict[str, Any]]) -> list[Any]:
        rg = self._rg
        names = self._generation_names()
        records = []
        for row in rows:
            generations = list(row["generations"])[: self.num_generations]
            fields = {
                ID_FIELD: instruction_id(row["instruction"]),
                self._instruction_name(): row["instruction"],
                **{name: g for name, g in zip(names, generations, strict=False) if g is not None},
            }
            suggestions = [
                rg.Suggestion(value=rating, question_name=f"{name}-rating")
                for name, rating in zip(names, row.get("ratings") or [], strict=False)
                if isinstance(rating, int) and rating in RATINGS
            ] + [
                rg.Suggestion(value=rationale, question_name=f"{name}-rationale")
                for name, rationale in zip(names, row.get("rationales") or [], strict=False)
                if isinstance(rationale, str)
            ]
            records.append(rg.Record(fields=fields, suggestions=suggestions))
        return records
