"""The demo pipeline: questions and answers about a few topics, on the embedded model.

`stillroom demo` (or `make demo`) runs it fully offline on the small model of the `[local]`
extra. `STILLROOM_LLM` (or `--llm`) points it at any other backend, e.g.
`openai:gpt-4o-mini` or `ollama:llama3.2`, with no code change.

The question is written the way the backend does it best. A model whose prompts stillroom
renders itself (the embedded SmolLM2) writes it as a student would, with Magpie: its prompt
ends where a user's turn opens, after a system prompt naming the topic. A 135M model asked
outright to "write a quiz question" mostly answers instead; as the user, it asks. A chat API
cannot be prompted that way, so there the question is asked for in plain words.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stillroom.models.llms.spec import llm_from_env, llm_from_spec
from stillroom.models.mixins.magpie import MagpieChatTemplateMixin
from stillroom.steps import KeepColumns, LoadDataFromDicts
from stillroom.steps.tasks import Magpie, TextGeneration

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

QUESTION_SETTINGS: dict[str, object] = {"max_new_tokens": 48, "temperature": 0.3, "seed": 7}
ANSWER_SETTINGS: dict[str, object] = {"max_new_tokens": 96, "temperature": 0.3, "seed": 7}


def _llm(spec: str | None, settings: dict[str, object]) -> LLM:
    """One LLM per task: `spec` when given, else $STILLROOM_LLM, else the embedded model."""
    if spec:
        return llm_from_spec(spec, generation_kwargs=settings)
    return llm_from_env(default="local", generation_kwargs=settings)


def _student(topic: str) -> str:
    return f"You are a science teacher. A student asks you one short question about {topic}."


def _question_step(llm: LLM) -> Magpie | TextGeneration:
    """The step writing each row's `instruction` (see the module's docstring)."""
    if isinstance(llm, MagpieChatTemplateMixin) and llm.magpie_pre_query_template:
        return Magpie(name="write_question", llm=llm, only_instruction=True)
    return TextGeneration(
        name="write_question",
        llm=llm,
        system_prompt="You write quiz questions for students. Reply with one question only.",
        template="Topic: {{ topic }}",
        columns=["topic"],
        output_mappings={"generation": "instruction"},
    )


def build_pipeline(llm: str | None = None, rows: int = len(TOPICS)) -> Pipeline:
    """topics >> write a question >> answer it >> keep the dataset's columns."""
    from stillroom.pipeline import Pipeline

    with Pipeline(name="stillroom-demo", description="Questions and answers about topics.") as p:
        chosen = [TOPICS[i % len(TOPICS)] for i in range(rows)]
        topics = LoadDataFromDicts(
            name="topics", data=[{"topic": t, "system_prompt": _student(t)} for t in chosen]
        )
        ask = _question_step(_llm(llm, QUESTION_SETTINGS))
        answer = TextGeneration(
            name="answer",
            llm=_llm(llm, ANSWER_SETTINGS),
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
