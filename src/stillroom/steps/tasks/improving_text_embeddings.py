"""Synthetic data for training text embeddings (Wang et al. 2024, "Improving Text Embeddings
with Large Language Models").

A two-stage recipe: `EmbeddingTaskGenerator` brainstorms task descriptions, then one of the
`Generate...Data` tasks writes a training example (as JSON) for each task. The generators
`MonolingualTripletGenerator` and `BitextRetrievalGenerator` need no task: each run asks for
`num_generations` sentence triplets. Unset prompt parameters (query type, difficulty, ...)
are drawn per request from the paper's choices with a random generator seeded by `seed`.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import Field, PrivateAttr

from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.base import GeneratorTask, Task, _Task
from stillroom.steps.typing import GeneratorStepOutput, Row, StepColumns
from stillroom.typing import ChatType, FormattedInput

_TEMPLATES = "improving_text_embeddings"

Unit = Literal["sentence", "phrase", "passage"]
SchoolLevel = Literal["elementary school", "high school", "college"]
HighScore = Literal["4", "4.5", "5"]
LowScore = Literal["2.5", "3", "3.5"]
Difficulty = Literal["high school", "college", "PhD"]


def _pick(rng: random.Random, value: Any, choices: tuple[Any, ...]) -> Any:
    """`value` when the user set it, else one of `choices` at random."""
    return value if value is not None else rng.choice(choices)


class _JSONKeysTask(_Task, ABC):
    """A task whose reply is one JSON object: its `keys` become the output columns."""

    @property
    @abstractmethod
    def keys(self) -> list[str]:
        """The JSON keys read from the reply, in column order."""

    @property
    def outputs(self) -> StepColumns:
        return [*self.keys, "model_name"]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data = parsing.literal_value(output or "")
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        if not any(key in data for key in self.keys):
            raise ValueError(f"the reply's JSON object has none of the keys {self.keys}")
        return {key: data.get(key) for key in self.keys}


class _Seeded(_Task):
    """Draws unset prompt parameters from a random generator seeded by `seed` at load."""

    seed: int = Field(default=42, description="Seed for drawing unset prompt parameters.")

    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    def load(self) -> None:
        super().load()
        self._rng = random.Random(self.seed)


class _EmbeddingDataGeneration(_Seeded, _JSONKeysTask, Task, ABC):
    """Writes one training example for the row's `task` description."""

    _template_name: str = PrivateAttr(default="")

    @property
    def inputs(self) -> StepColumns:
        return ["task"]

    def _parameters(self) -> dict[str, Any]:
        """The template's values besides `task`."""
        return {"language": getattr(self, "language", "English")}

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        content = prompts.render(
            f"{_TEMPLATES}/{self._template_name}", task=input["task"], **self._parameters()
        )
        return [{"role": "user", "content": content}]


class _EmbeddingDataGenerator(_Seeded, _JSONKeysTask, GeneratorTask, ABC):
    """Asks once for `num_generations` examples, one row each, and stops."""

    @property
    @abstractmethod
    def prompt(self) -> ChatType:
        """The request sent (parameters drawn anew on each access)."""

    def _sample_input(self) -> FormattedInput:
        return self.prompt

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        request = self.prompt
        (result,) = self.generate_all([request])
        yield self.rows_from_result({}, request, result), True


_LANGUAGE = Field(default="English", description="Language the examples are written in.")


class GenerateTextRetrievalData(_EmbeddingDataGeneration):
    """A query, a document answering it and a hard negative document for each `task`.

    Columns: inputs = `task`; outputs = `user_query`, `positive_document`,
    `hard_negative_document`, `model_name`.
    """

    language: str = _LANGUAGE
    query_type: Literal["extremely long-tail", "long-tail", "common"] | None = None
    query_length: Literal["less than 5 words", "5 to 15 words", "at least 10 words"] | None = None
    difficulty: Difficulty | None = None
    clarity: Literal["clear", "understandable with some effort", "ambiguous"] | None = None
    num_words: Literal[50, 100, 200, 300, 400, 500] | None = None

    _template_name: str = PrivateAttr(default="text-retrieval")

    @property
    def keys(self) -> list[str]:
        return ["user_query", "positive_document", "hard_negative_document"]

    def _parameters(self) -> dict[str, Any]:
        rng = self._rng
        return {
            "language": self.language,
            "query_type": _pick(
                rng, self.query_type, ("extremely long-tail", "long-tail", "common")
            ),
            "query_length": _pick(
                rng, self.query_length, ("less than 5 words", "5 to 15 words", "at least 10 words")
            ),
            "difficulty": _pick(rng, self.difficulty, ("high school", "college", "PhD")),
            "clarity": _pick(
                rng, self.clarity, ("clear", "understandable with some effort", "ambiguous")
            ),
            "num_words": _pick(rng, self.num_words, (50, 100, 200, 300, 400, 500)),
        }


class GenerateShortTextMatchingData(_EmbeddingDataGeneration):
    """A short `input` and a short text matching it for each `task`.

    Columns: inputs = `task`; outputs = `input`, `positive_document`, `model_name`.
    """

    language: str = _LANGUAGE

    _template_name: str = PrivateAttr(default="short-text-matching")

    @property
    def keys(self) -> list[str]:
        return ["input", "positive_document"]


class GenerateLongTextMatchingData(_EmbeddingDataGeneration):
    """A long `input` and a long text matching it for each `task`.

    Columns: inputs = `task`; outputs = `input`, `positive_document`, `model_name`.
    """

    language: str = _LANGUAGE

    _template_name: str = PrivateAttr(default="long-text-matching")

    @property
    def keys(self) -> list[str]:
        return ["input", "positive_document"]


class GenerateTextClassificationData(_EmbeddingDataGeneration):
    """A text, its label and a plausible wrong label for each classification `task`.

    Columns: inputs = `task`; outputs = `input_text`, `label`, `misleading_label`,
    `model_name`.
    """

    language: str = _LANGUAGE
    difficulty: Difficulty | None = None

    _template_name: str = PrivateAttr(default="text-classification")

    @property
    def keys(self) -> list[str]:
        return ["input_text", "label", "misleading_label"]

    def _parameters(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "difficulty": _pick(self._rng, self.difficulty, ("high school", "college", "PhD")),
        }


class _TripletGenerator(_EmbeddingDataGenerator, ABC):
    """The fields and columns the two sentence-triplet generators share."""

    unit: Unit | None = None
    difficulty: SchoolLevel | None = None
    high_score: HighScore | None = None
    low_score: LowScore | None = None

    @property
    def keys(self) -> list[str]:
        return ["S1", "S2", "S3"]

    def _drawn(self) -> dict[str, Any]:
        rng = self._rng
        return {
            "unit": _pick(rng, self.unit, ("sentence", "phrase", "passage")),
            "difficulty": _pick(
                rng, self.difficulty, ("elementary school", "high school", "college")
            ),
            "high_score": _pick(rng, self.high_score, ("4", "4.5", "5")),
            "low_score": _pick(rng, self.low_score, ("2.5", "3", "3.5")),
        }


class MonolingualTripletGenerator(_TripletGenerator):
    """Sentence triplets in one language: `S1`, a near paraphrase `S2`, a look-alike `S3`.

    Columns: no inputs; outputs = `S1`, `S2`, `S3`, `model_name`.
    """

    language: str = _LANGUAGE

    @property
    def prompt(self) -> ChatType:
        content = prompts.render(
            f"{_TEMPLATES}/monolingual-triplet", language=self.language, **self._drawn()
        )
        return [{"role": "user", "content": content}]


class BitextRetrievalGenerator(_TripletGenerator):
    """Translation triplets: `S1` in one language, its translation `S2`, a look-alike `S3`.

    Columns: no inputs; outputs = `S1`, `S2`, `S3`, `model_name`.
    """

    source_language: str = Field(default="English", description="Language of S1.")
    target_language: str = Field(description="Language of S2 and S3.")

    @property
    def prompt(self) -> ChatType:
        content = prompts.render(
            f"{_TEMPLATES}/bitext-retrieval",
            source_language=self.source_language,
            target_language=self.target_language,
            **self._drawn(),
        )
        return [{"role": "user", "content": content}]


class EmbeddingTaskGenerator(GeneratorTask):
    """Brainstorm embedding task descriptions of one `category` (a JSON list per reply).

    With `flatten_tasks`, each task description becomes its own row (`task` column), ready
    for the matching `Generate...Data` task; otherwise each reply is one row (`tasks`).

    Columns: no inputs; outputs = `tasks` (list of str) or `task` (str), `model_name`.
    """

    category: Literal[
        "text-retrieval", "text-matching-short", "text-matching-long", "text-classification"
    ] = Field(description="Which kind of embedding task to brainstorm.")
    flatten_tasks: bool = Field(default=False, description="One row per task description.")

    @property
    def prompt(self) -> ChatType:
        content = prompts.render(f"{_TEMPLATES}/brainstorming/{self.category}")
        return [{"role": "user", "content": content}]

    @property
    def outputs(self) -> StepColumns:
        return ["task" if self.flatten_tasks else "tasks", "model_name"]

    def _sample_input(self) -> FormattedInput:
        return self.prompt

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        tasks = parsing.literal_value(output or "")
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise ValueError("expected a JSON list of task descriptions (strings)")
        return {"tasks": tasks}

    def _output_on_failure(self) -> dict[str, Any]:
        return {"tasks": None}

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        request = self.prompt
        (result,) = self.generate_all([request])
        rows = self.rows_from_result({}, request, result)
        yield (self._flatten(rows) if self.flatten_tasks else rows), True

    def _flatten(self, rows: list[Row]) -> list[Row]:
        """One row per task description; a failed reply stays one row with `task` None."""
        flat: list[Row] = []
        for row in rows:
            tasks = row.pop("tasks")
            for task in tasks if isinstance(tasks, list) else [None]:
                flat.append({"task": task, **row})
        return flat
