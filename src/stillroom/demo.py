"""The demo pipeline: questions and answers about a few topics, on the embedded model.

`stillroom demo` (or `make demo`) runs it fully offline on the small model of the `[local]`
extra. `STILLROOM_LLM` (or `--llm`) points it at any other backend, e.g.
`openai:gpt-4o-mini` or `ollama:llama3.2`, with no code change.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stillroom.models.llms.spec import llm_from_env, llm_from_spec
from stillroom.steps import KeepColumns, LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

if TYPE_CHECKING:
    from stillroom.distiset import Distiset
    from stillroom.models.llms.base import LLM
    from stillroom.pipeline import Pipeline

TOPICS = [
    "photosynthesis",
    "the water cycle",
    "prime numbers",
    "volcanoes",
    "the moon's phases",
    "honeybees",
    "rainbows",
    "compound interest",
]

SETTINGS = {"max_new_tokens": 96, "temperature": 0.7, "seed": 7}


def _llm(spec: str | None) -> LLM:
    """One LLM per task: `spec` when given, else $STILLROOM_LLM, else the embedded model."""
    if spec:
        return llm_from_spec(spec, generation_kwargs=SETTINGS)
    return llm_from_env(default="local", generation_kwargs=SETTINGS)


def build_pipeline(llm: str | None = None, rows: int = len(TOPICS)) -> Pipeline:
    """topics >> write a question >> answer it >> keep the dataset's columns."""
    from stillroom.pipeline import Pipeline

    with Pipeline(name="stillroom-demo", description="Questions and answers about topics.") as p:
        topics = LoadDataFromDicts(
            name="topics", data=[{"topic": TOPICS[i % len(TOPICS)]} for i in range(rows)]
        )
        ask = TextGeneration(
            name="write_question",
            llm=_llm(llm),
            system_prompt="You write quiz questions for students. Reply with one question only.",
            template="Topic: {{ topic }}",
            columns=["topic"],
            output_mappings={"generation": "instruction"},
        )
        answer = TextGeneration(
            name="answer",
            llm=_llm(llm),
            system_prompt="You are a patient teacher. Answer in two or three sentences.",
        )
        keep = KeepColumns(
            name="dataset", columns=["topic", "instruction", "generation", "model_name"]
        )
        topics >> ask >> answer >> keep
    return p


def run_demo(output: Path, llm: str | None = None, rows: int = len(TOPICS)) -> Distiset:
    """Run the demo pipeline and save its dataset under `output`."""
    distiset = build_pipeline(llm, rows).run()
    distiset.save_to_disk(output)
    return distiset
