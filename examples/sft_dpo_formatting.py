"""SFT and DPO training data from one run: two answers per instruction, rated, then formatted.

Two TextGeneration steps answer every instruction (normally two different models). The
first answers become an SFT dataset (FormatTextGenerationSFT); both answers, grouped with
GroupColumns and rated by UltraFeedback, become a DPO dataset (FormatTextGenerationDPO).
KeepColumns trims each leaf to the columns a trainer reads, so the run yields two datasets:

    python examples/sft_dpo_formatting.py

It uses the embedded local model by default; set STILLROOM_LLM to use another backend.
`build_pipeline(make_llm)` is importable on its own, e.g. to run the same pipeline on mock
LLMs: `build_pipeline(lambda: MockLLM(responses=...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

INSTRUCTIONS = [
    "Write a haiku about autumn rain.",
    "Explain what a hash table is to a ten-year-old.",
    "Suggest a name for a bakery that only sells bread made with rye.",
]
SYSTEM_PROMPT = "You are a helpful assistant. Answer in at most three sentences."


def build_pipeline(make_llm: Callable[[], Any] | None = None) -> Any:
    """The pipeline. `make_llm()` gives each task its own LLM (so each step's generation
    settings stay apart); by default `llm_from_env(default="local")`."""
    from stillroom.models import llm_from_env
    from stillroom.pipeline import Pipeline
    from stillroom.steps import (
        FormatTextGenerationDPO,
        FormatTextGenerationSFT,
        GroupColumns,
        KeepColumns,
        LoadDataFromDicts,
    )
    from stillroom.steps.tasks import TextGeneration, UltraFeedback

    new_llm = make_llm or (lambda: llm_from_env(default="local"))
    with Pipeline(name="sft-dpo-formatting") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": text, "system_prompt": SYSTEM_PROMPT} for text in INSTRUCTIONS]
        )
        answer_a = TextGeneration(name="answer_a", llm=new_llm())
        answer_b = TextGeneration(name="answer_b", llm=new_llm())
        group = GroupColumns(
            columns=["generation", "model_name"],
            output_columns=["generations", "generation_models"],
        )
        rate = UltraFeedback(llm=new_llm(), aspect="overall-rating")
        to_dpo = FormatTextGenerationDPO()
        keep_dpo = KeepColumns(
            name="dpo",
            columns=[
                "prompt",
                "prompt_id",
                "chosen",
                "rejected",
                "chosen_rating",
                "rejected_rating",
            ],
        )
        to_sft = FormatTextGenerationSFT()
        keep_sft = KeepColumns(name="sft", columns=["prompt", "prompt_id", "messages"])

        load >> [answer_a, answer_b]
        [answer_a, answer_b] >> group >> rate >> to_dpo >> keep_dpo
        answer_a >> to_sft >> keep_sft
    return pipeline


if __name__ == "__main__":
    distiset = build_pipeline().run(
        parameters={
            "answer_a": {"llm": {"generation_kwargs": {"temperature": 0.2}}},
            "answer_b": {"llm": {"generation_kwargs": {"temperature": 1.0}}},
        },
    )
    print(distiset)
