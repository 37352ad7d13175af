"""Instruction generation: seed topics -> Self-Instruct queries -> Evol-Instruct -> answers.

Each seed topic becomes several user queries (SelfInstruct); each query is made harder over
two rounds of Evol-Instruct, which also answers the final version; a complexity score is
attached to every evolution. Run it with the embedded local model (the default) or set
STILLROOM_LLM to use another backend:

    python examples/instruction_generation.py

`build_pipeline(llm)` is importable on its own, e.g. to run the same pipeline on a MockLLM.
"""

from __future__ import annotations

from typing import Any

TOPICS = [
    "keeping sourdough starter alive",
    "planning a week of vegetarian lunches",
    "explaining compound interest to a teenager",
]


def build_pipeline(llm: Any = None) -> Any:
    """The pipeline; `llm` defaults to `llm_from_env(default="local")`."""
    from stillroom.models import llm_from_env
    from stillroom.pipeline import Pipeline
    from stillroom.steps import ExpandColumns, KeepColumns, LoadDataFromDicts
    from stillroom.steps.tasks import ComplexityScorer, EvolInstruct, SelfInstruct

    llm = llm if llm is not None else llm_from_env(default="local")
    with Pipeline(name="instruction-generation") as pipeline:
        topics = LoadDataFromDicts(data=[{"input": topic} for topic in TOPICS])
        queries = SelfInstruct(llm=llm, num_instructions=3)
        one_per_row = ExpandColumns(columns={"instructions": "instruction"})
        evolve = EvolInstruct(
            llm=llm,
            num_evolutions=2,
            store_evolutions=True,
            include_original_instruction=True,
            generate_answers=True,
        )
        score = ComplexityScorer(llm=llm, input_mappings={"instructions": "evolved_instructions"})
        keep = KeepColumns(columns=["evolved_instructions", "answers", "scores", "model_name"])
        topics >> queries >> one_per_row >> evolve >> score >> keep
    return pipeline


if __name__ == "__main__":
    distiset = build_pipeline().run(
        parameters={"self_instruct": {"llm": {"generation_kwargs": {"temperature": 0.9}}}},
    )
    print(distiset)
