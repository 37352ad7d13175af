"""The pipeline examples in examples/ validate and run end to end on a mock LLM.

The mock's fixed reply is not what every task hopes to parse, so some outputs are None; what
this pins down is the wiring (columns, mappings, graph) and that no row is lost.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from stillroom.models import AsyncMockLLM

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REPLY = "1. How do I keep it alive?\n2. What should I feed it?\nScore: 3\n[1] Score: 4"


def _build(name: str):
    return runpy.run_path(str(EXAMPLES / name))["build_pipeline"]


@pytest.mark.parametrize(
    "name", ["instruction_generation.py", "preference_ultrafeedback.py", "sft_dpo_formatting.py"]
)
def test_example_pipeline_runs_on_a_mock_llm(name: str) -> None:
    build = _build(name)
    if name == "sft_dpo_formatting.py":
        pipeline = build(lambda: AsyncMockLLM(responses=REPLY))
    else:
        pipeline = build(AsyncMockLLM(responses=REPLY))
    pipeline.validate()
    distiset = pipeline.run(progress=False)
    assert distiset.summary.completed
    for dataset in distiset.values():
        assert len(dataset["train"]) > 0
