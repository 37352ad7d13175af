"""Small runs the Distiset tests share."""

from __future__ import annotations

from stillroom.distiset import Distiset
from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import KeepColumns, LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration


def two_leaf_run(rows: int = 6) -> Distiset:
    """A run with two leaf steps: `text_generation_0` (with a failed row) and `keep_columns_0`."""

    def reply(messages: list[dict[str, str]]) -> str | Exception:
        text = messages[-1]["content"]
        return RuntimeError("no answer") if text == "q3" else f"re {text}"

    with Pipeline(name="two-leaves") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"q{i}", "when": f"2024-01-0{1 + i % 9}"} for i in range(rows)],
            batch_size=4,
        )
        load >> [
            TextGeneration(llm=MockLLM(responses=reply)),
            KeepColumns(columns=["instruction"]),
        ]
    return pipeline.run(progress=False)


def one_leaf_run(rows: int = 5) -> Distiset:
    with Pipeline(name="one-leaf") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(rows)])
        load >> TextGeneration(llm=MockLLM(responses="ok"))
    return pipeline.run(progress=False)
