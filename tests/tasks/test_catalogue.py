"""Every built-in task: distilabel's module paths, print(), serialization, shipped templates."""

from __future__ import annotations

import importlib
from importlib import resources
from typing import Any

import pytest

from stillroom.models import MockLLM
from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.base import _Task
from stillroom.utils import templates

MODULE_PATHS = {
    "TextGeneration": "text_generation",
    "ChatGeneration": "text_generation",
    "TextClassification": "text_classification",
    "SelfInstruct": "self_instruct",
    "EvolInstruct": "evol_instruct.base",
    "EvolInstructGenerator": "evol_instruct.generator",
    "EvolComplexity": "evol_instruct.evol_complexity.base",
    "EvolComplexityGenerator": "evol_instruct.evol_complexity.generator",
    "EvolQuality": "evol_quality.base",
    "UltraFeedback": "ultrafeedback",
    "QualityScorer": "quality_scorer",
    "ComplexityScorer": "complexity_scorer",
    "GenerateSentencePair": "sentence_transformers",
    "StructuredGeneration": "structured_generation",
    "Magpie": "magpie.base",
    "MagpieGenerator": "magpie.generator",
    "PrometheusEval": "prometheus_eval",
    "EmbeddingTaskGenerator": "improving_text_embeddings",
    "GenerateTextRetrievalData": "improving_text_embeddings",
    "GenerateShortTextMatchingData": "improving_text_embeddings",
    "GenerateLongTextMatchingData": "improving_text_embeddings",
    "GenerateTextClassificationData": "improving_text_embeddings",
    "MonolingualTripletGenerator": "improving_text_embeddings",
    "BitextRetrievalGenerator": "improving_text_embeddings",
    "CLAIR": "clair",
    "URIAL": "urial",
    "Genstruct": "genstruct",
    "InstructionBacktranslation": "instruction_backtranslation",
    "MathShepherdGenerator": "math_shepherd.generator",
    "MathShepherdCompleter": "math_shepherd.completer",
    "APIGenGenerator": "apigen.generator",
    "APIGenSemanticChecker": "apigen.semantic_checker",
    "ArgillaLabeller": "argilla_labeller",
}

REQUIRED: dict[str, dict[str, Any]] = {
    "EvolInstruct": {"num_evolutions": 2},
    "EvolComplexity": {"num_evolutions": 2},
    "EvolQuality": {"num_evolutions": 2},
    "EvolInstructGenerator": {"num_instructions": 4},
    "EvolComplexityGenerator": {"num_instructions": 4},
    "GenerateSentencePair": {"action": "paraphrase", "triplet": True},
    "PrometheusEval": {"mode": "relative", "rubric": "honesty"},
    "MagpieGenerator": {"num_rows": 3},
    "EmbeddingTaskGenerator": {"category": "text-retrieval"},
    "BitextRetrievalGenerator": {"target_language": "French"},
    "ArgillaLabeller": {
        "fields": [{"name": "text", "settings": {"type": "text"}}],
        "question": {"name": "q", "settings": {"type": "text"}},
    },
}


def _make(name: str) -> _Task:
    package = importlib.import_module("stillroom.steps.tasks")
    cls = getattr(package, name)
    llm = MockLLM(magpie_pre_query_template="llama3")
    return cls(llm=llm, **REQUIRED.get(name, {}))


@pytest.mark.parametrize(("name", "module"), sorted(MODULE_PATHS.items()))
def test_distilabel_module_paths(name: str, module: str) -> None:
    package = importlib.import_module("stillroom.steps.tasks")
    defined = importlib.import_module(f"stillroom.steps.tasks.{module}")
    assert getattr(package, name) is getattr(defined, name)


@pytest.mark.parametrize("name", sorted(MODULE_PATHS))
def test_print_shows_the_sample_prompt(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    task = _make(name)
    task.print()
    shown = capsys.readouterr().out
    assert type(task).__name__ in shown
    if name not in (
        "Magpie",
        "MagpieGenerator",
        "EvolInstructGenerator",
        "EvolComplexityGenerator",
        "EmbeddingTaskGenerator",
        "MonolingualTripletGenerator",
        "BitextRetrievalGenerator",
    ):
        assert "PLACEHOLDER" in shown
    if name.startswith("Magpie"):
        assert "Magpie pre-query" in shown


@pytest.mark.parametrize("name", sorted(MODULE_PATHS))
def test_tasks_dump_and_load_back(name: str) -> None:
    task = _make(name)
    again = type(task).from_dict(task.dump())
    assert again == task
    assert again.get_outputs() == task.get_outputs()


def test_every_shipped_template_compiles() -> None:
    root = resources.files("stillroom.steps.tasks") / "templates"
    names = sorted(
        str(path.relative_to(root)).removesuffix(".jinja2")  # type: ignore[attr-defined]
        for path in root.rglob("*.jinja2")  # type: ignore[attr-defined]
    )
    assert len(names) >= 30
    for name in names:
        prompts.template(name)  # raises on a Jinja2 syntax error
        assert templates.package_template(name).strip(), f"template {name} is empty"


RUNTIME_PARAMETERS = {
    "EvolInstruct": {"seed"},
    "EvolQuality": {"seed"},
    "EvolInstructGenerator": {"seed", "min_length", "max_length", "max_rounds", "batch_size"},
    "Magpie": {
        "n_turns",
        "end_with_user",
        "include_system_prompt",
        "only_instruction",
        "system_prompt",
    },
    "MagpieGenerator": {"n_turns", "only_instruction", "system_prompt", "num_rows", "batch_size"},
}


@pytest.mark.parametrize(("name", "expected"), sorted(RUNTIME_PARAMETERS.items()))
def test_runtime_parameters_are_distilabels(name: str, expected: set[str]) -> None:
    task = _make(name)
    names = task.runtime_parameters_names
    assert expected <= set(names)
    assert {"num_generations", "add_raw_output", "add_raw_input", "llm"} <= set(names)
    described = {
        info["name"] for info in task.get_runtime_parameters_info() if "description" in info
    }
    assert expected <= described
