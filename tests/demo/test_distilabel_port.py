"""A distilabel 1.5 script runs after replacing the word `distilabel` with `stillroom`.

The script below is written against distilabel's documented API (imports, names, columns,
`>>` with lists, `run(parameters=..., use_cache=...)`, `Distiset`). The test renames the import
root, points the OpenAI client at the mock server on 127.0.0.1, and runs it.
"""

from __future__ import annotations

from typing import Any

from stillroom.testing import MockLLMServer
from stillroom.testing.replies import ReplyContext

DISTILABEL_SCRIPT = """
from typing import TYPE_CHECKING

from distilabel.models import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import (
    FormatTextGenerationDPO,
    GroupColumns,
    KeepColumns,
    LoadDataFromDicts,
    StepInput,
    step,
)
from distilabel.steps.tasks import TextGeneration, UltraFeedback

if TYPE_CHECKING:
    from distilabel.steps.typing import StepOutput


@step(inputs=["instruction"], outputs=["instruction"])
def StripInstruction(inputs: StepInput) -> "StepOutput":
    for row in inputs:
        row["instruction"] = row["instruction"].strip()
    yield inputs


with Pipeline(name="preference-dataset") as pipeline:
    load = LoadDataFromDicts(
        data=[{"instruction": " Name a prime number. "}, {"instruction": "What is 2 + 2?"}]
    )
    strip = StripInstruction()
    generators = [
        TextGeneration(
            name=f"text_generation_{i}",
            llm=OpenAILLM(model="mock-model", base_url=BASE_URL, api_key="sk-test"),
        )
        for i in range(2)
    ]
    group = GroupColumns(
        columns=["generation", "model_name"], output_columns=["generations", "generation_models"]
    )
    rate = UltraFeedback(
        aspect="overall-rating",
        llm=OpenAILLM(model="mock-model", base_url=BASE_URL, api_key="sk-test"),
    )
    dpo = FormatTextGenerationDPO()
    keep = KeepColumns(columns=["prompt", "chosen", "rejected", "generations", "ratings"])
    load >> strip >> generators >> group >> rate >> dpo >> keep

distiset = pipeline.run(
    parameters={
        "text_generation_0": {"llm": {"generation_kwargs": {"temperature": 0.7}}},
        "text_generation_1": {"llm": {"generation_kwargs": {"temperature": 1.0}}},
    },
    use_cache=False,
)
"""


RATINGS = "#### Text 1\nRating: 5\nRationale: correct\n\n#### Text 2\nRating: 2\nRationale: vague"


def reply(context: ReplyContext) -> str:
    """UltraFeedback's request (the only one with a system message) gets ratings it can read,
    the first text winning; the generation requests get an echo."""
    if context.messages[0]["role"] == "system":
        return RATINGS
    temperature = context.body.get("temperature")
    return f"echo: {context.prompt} (t={temperature})"


def test_a_distilabel_script_runs_with_the_import_root_renamed() -> None:
    script = DISTILABEL_SCRIPT.replace("distilabel", "stillroom")
    with MockLLMServer(reply=reply) as server:
        namespace: dict[str, Any] = {"BASE_URL": server.base_url}
        exec(compile(script, "ported_script.py", "exec"), namespace)
        stats = server.stats()
    rows = namespace["distiset"]["default"]["train"]
    assert len(rows) == 2
    assert [len(r["generations"]) for r in rows] == [2, 2]
    assert all(g.startswith("echo: ") for r in rows for g in r["generations"])
    assert rows[0]["prompt"] == "Name a prime number."  # the @step function ran
    for row in rows:
        first, second = row["generations"]
        assert row["ratings"] == [5, 2]
        assert row["chosen"] == [
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": first},
        ]
        assert row["rejected"][-1] == {"role": "assistant", "content": second}
    assert set(rows[0]) == {"prompt", "chosen", "rejected", "generations", "ratings"}
    assert stats.requests_total == 6  # 2 rows x (2 generations + 1 rating), nothing twice
