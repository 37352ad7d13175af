"""A distilabel 1.5 script runs after replacing the word `distilabel` with `stillroom`.

The script below is written against distilabel's documented API (imports, names, columns,
`>>` with lists, `run(parameters=..., use_cache=...)`, `Distiset`). The test renames the import
root, points the OpenAI client at the mock server on 127.0.0.1, and runs it.
"""

from __future__ import annotations

from typing import Any

from stillroom.testing import MockLLMServer

DISTILABEL_SCRIPT = """
from distilabel.models import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import FormatTextGenerationDPO, GroupColumns, KeepColumns, LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration, UltraFeedback

with Pipeline(name="preference-dataset") as pipeline:
    load = LoadDataFromDicts(
        data=[{"instruction": "Name a prime number."}, {"instruction": "What is 2 + 2?"}]
    )
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
    load >> generators >> group >> rate >> dpo >> keep

distiset = pipeline.run(
    parameters={
        "text_generation_0": {"llm": {"generation_kwargs": {"temperature": 0.7}}},
        "text_generation_1": {"llm": {"generation_kwargs": {"temperature": 1.0}}},
    },
    use_cache=False,
)
"""


def test_a_distilabel_script_runs_with_the_import_root_renamed() -> None:
    script = DISTILABEL_SCRIPT.replace("distilabel", "stillroom")
    with MockLLMServer() as server:
        namespace: dict[str, Any] = {"BASE_URL": server.base_url}
        exec(compile(script, "ported_script.py", "exec"), namespace)
        stats = server.stats()
    rows = namespace["distiset"]["default"]["train"]
    assert len(rows) == 2
    assert [len(r["generations"]) for r in rows] == [2, 2]
    assert all(g.startswith("echo: ") for r in rows for g in r["generations"])
    assert set(rows[0]) == {"prompt", "chosen", "rejected", "generations", "ratings"}
    assert stats.requests_total == 6  # 2 rows x (2 generations + 1 rating), nothing twice
