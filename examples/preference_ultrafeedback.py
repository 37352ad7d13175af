"""Preference data: two answers per instruction, rated with UltraFeedback, formatted for DPO.

For each instruction the LLM writes two answers (grouped in one `generations` list), then
judges them with UltraFeedback's overall rating; FormatTextGenerationDPO keeps the best as
`chosen` and the worst as `rejected`. Run it with the embedded local model (the default) or
set STILLROOM_LLM to use another backend:

    python examples/preference_ultrafeedback.py

`build_pipeline(llm)` is importable on its own, e.g. to run the same pipeline on a MockLLM.
"""

from __future__ import annotations

from typing import Any

INSTRUCTIONS = [
    "Explain why the sky is blue in two sentences.",
    "Give three tips for writing a clear bug report.",
    "What is the difference between a list and a tuple in Python?",
]


def build_pipeline(llm: Any = None) -> Any:
    """The pipeline; `llm` defaults to `llm_from_env(default="local")`."""
    from stillroom.models import llm_from_env
    from stillroom.pipeline import Pipeline
    from stillroom.steps import FormatTextGenerationDPO, LoadDataFromDicts
    from stillroom.steps.tasks import TextGeneration, UltraFeedback

    llm = llm if llm is not None else llm_from_env(default="local")
    with Pipeline(name="preference-ultrafeedback") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": text} for text in INSTRUCTIONS])
        answer = TextGeneration(
            llm=llm,
            num_generations=2,
            group_generations=True,
            output_mappings={"generation": "generations"},
        )
        rate = UltraFeedback(llm=llm, aspect="overall-rating")
        to_dpo = FormatTextGenerationDPO()
        load >> answer >> rate >> to_dpo
    return pipeline


if __name__ == "__main__":
    distiset = build_pipeline().run(
        parameters={"text_generation_0": {"llm": {"generation_kwargs": {"temperature": 0.8}}}},
    )
    print(distiset)
