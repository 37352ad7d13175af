"""Every task in a pipeline with a scripted mock LLM: a reply in the task's format fills the
row, a malformed one keeps the row with None outputs and the error in its metadata.

`CASES` runs the tasks without such a test elsewhere; `ELSEWHERE` names the test that does it
for the others, and `NO_LLM_REPLIES` the tasks that read no LLM reply. A test checks that the
three cover `stillroom.steps.tasks.__all__`, so a new task needs its pipeline test.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from task_helpers import run_in_pipeline

import stillroom.steps.tasks as tasks
from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.steps.tasks.base import METADATA_COLUMN, _Task
from stillroom.utils.chat import content_text

BAD = "omega"
"""The word that marks the row whose reply is malformed."""


def _keyed(good: Any, bad: Any) -> Callable[[Any], Any]:
    """Replies `bad` to a request that mentions BAD, `good` otherwise (rows may run in any
    order in a pipeline)."""

    def respond(messages: Any) -> Any:
        text = " ".join(content_text(m["content"]) for m in messages)
        return bad if BAD in text else good

    return respond


@dataclass
class Case:
    """One task: how to build it (given its LLM), its input rows (None for a generator),
    the good reply, the malformed one and what the good row's outputs are."""

    make: Callable[[Any], _Task]
    rows: list[dict[str, Any]] | None
    good: Any
    bad: Any
    expected: dict[str, Any]
    llm_options: dict[str, Any] = field(default_factory=dict)
    failed: tuple[str, ...] = ()
    """The outputs the malformed reply leaves None, when not all of them (a generator keeps
    the instruction whose answer failed)."""


def _rows(column: str, **others: Any) -> list[dict[str, Any]]:
    return [{column: "alpha", **others}, {column: BAD, **others}]


TRIPLET = json.dumps({"S1": "s one", "S2": "s two", "S3": "s three"})

CASES: dict[str, Case] = {
    "TextGeneration": Case(
        lambda llm: tasks.TextGeneration(llm=llm),
        _rows("instruction"),
        "Fine.",
        None,
        {"generation": "Fine."},
    ),
    "ChatGeneration": Case(
        lambda llm: tasks.ChatGeneration(llm=llm),
        [{"messages": [{"role": "user", "content": word}]} for word in ("alpha", BAD)],
        "Fine.",
        None,
        {"generation": "Fine."},
    ),
    "StructuredGeneration": Case(
        lambda llm: tasks.StructuredGeneration(llm=llm),
        _rows("instruction", structured_output={"format": "json", "schema": {"type": "object"}}),
        '{"a": 1}',
        None,
        {"generation": '{"a": 1}'},
    ),
    "TextClassification": Case(
        lambda llm: tasks.TextClassification(llm=llm, available_labels=["complaint", "praise"]),
        _rows("text"),
        '{"labels": "complaint"}',
        "complaint, I think",
        {"labels": "complaint"},
    ),
    "SelfInstruct": Case(
        lambda llm: tasks.SelfInstruct(llm=llm),
        _rows("input"),
        "Name a river.\nName a lake.",
        "",
        {"instructions": ["Name a river.", "Name a lake."]},
    ),
    "EvolInstruct": Case(
        lambda llm: tasks.EvolInstruct(llm=llm, num_evolutions=1),
        _rows("instruction"),
        "A harder question.",
        "   ",
        {"evolved_instruction": "A harder question."},
    ),
    "EvolComplexity": Case(
        lambda llm: tasks.EvolComplexity(llm=llm, num_evolutions=1),
        _rows("instruction"),
        "A harder question.",
        "   ",
        {"evolved_instruction": "A harder question."},
    ),
    "EvolQuality": Case(
        lambda llm: tasks.EvolQuality(llm=llm, num_evolutions=1),
        _rows("instruction", response="An answer."),
        "A better answer.",
        "   ",
        {"evolved_response": "A better answer."},
    ),
    "UltraFeedback": Case(
        lambda llm: tasks.UltraFeedback(llm=llm, aspect="honesty"),
        _rows("instruction", generations=["a", "b"]),
        "Rating: 4\nRationale: sure\n\nRating: 2\nRationale: vague",
        "Both are decent answers.",
        {"ratings": [4, 2], "rationales": ["sure", "vague"]},
    ),
    "QualityScorer": Case(
        lambda llm: tasks.QualityScorer(llm=llm),
        _rows("instruction", responses=["a", "b"]),
        "[1] Score: 3\n[2] Score: 1",
        "They are both fine.",
        {"scores": [3, 1]},
    ),
    "ComplexityScorer": Case(
        lambda llm: tasks.ComplexityScorer(llm=llm),
        [{"instructions": [word, "Sum 2 and 2."]} for word in ("alpha", BAD)],
        "[1] Score: 1\n[2] Score: 2",
        "Both are simple.",
        {"scores": [1, 2]},
    ),
    "GenerateSentencePair": Case(
        lambda llm: tasks.GenerateSentencePair(llm=llm, action="paraphrase", triplet=True),
        _rows("anchor"),
        "## Positive\nA rewording.\n## Negative\nSomething else.",
        "## Positive\nonly this",
        {"positive": "A rewording.", "negative": "Something else."},
    ),
    "PrometheusEval": Case(
        lambda llm: tasks.PrometheusEval(llm=llm, mode="relative", rubric="honesty"),
        _rows("instruction", generations=["a", "b"]),
        "Feedback: B explains more. [RESULT] B",
        "Feedback: fine.",
        {"feedback": "B explains more.", "result": "B"},
    ),
    "GenerateShortTextMatchingData": Case(
        lambda llm: tasks.GenerateShortTextMatchingData(llm=llm),
        _rows("task"),
        '{"input": "a query", "positive_document": "a match"}',
        '{"unrelated": 1}',
        {"input": "a query", "positive_document": "a match"},
    ),
    "GenerateLongTextMatchingData": Case(
        lambda llm: tasks.GenerateLongTextMatchingData(llm=llm),
        _rows("task"),
        '{"input": "a text", "positive_document": "a match"}',
        "no JSON here",
        {"input": "a text", "positive_document": "a match"},
    ),
    "GenerateTextClassificationData": Case(
        lambda llm: tasks.GenerateTextClassificationData(llm=llm),
        _rows("task"),
        '{"input_text": "a text", "label": "sports", "misleading_label": "news"}',
        '{"unrelated": 1}',
        {"input_text": "a text", "label": "sports", "misleading_label": "news"},
    ),
    "Magpie": Case(
        lambda llm: tasks.Magpie(llm=llm, only_instruction=True),
        [{"system_prompt": f"You help with {word}."} for word in ("alpha", BAD)],
        "What is a river?",
        None,
        {"instruction": "What is a river?"},
        {"magpie_pre_query_template": "chatml"},
    ),
    "TextGenerationWithImage": Case(
        lambda llm: tasks.TextGenerationWithImage(llm=llm, image_type="url"),
        _rows("instruction", image="https://example.com/cat.png"),
        "A cat.",
        None,
        {"generation": "A cat."},
    ),
}

# Generator tasks: their requests go out one after another, so the replies are a list.
GENERATOR_CASES: dict[str, Case] = {
    "EvolInstructGenerator": Case(
        lambda llm: tasks.EvolInstructGenerator(
            llm=llm, num_instructions=1, min_length=4, generate_answers=True
        ),
        None,
        ["An instruction long enough.", "An answer."],
        ["An instruction long enough.", None],
        {"instruction": "An instruction long enough.", "answer": "An answer."},
        failed=("answer",),
    ),
    "EvolComplexityGenerator": Case(
        lambda llm: tasks.EvolComplexityGenerator(
            llm=llm, num_instructions=1, min_length=4, generate_answers=True
        ),
        None,
        ["An instruction long enough.", "An answer."],
        ["An instruction long enough.", None],
        {"instruction": "An instruction long enough.", "answer": "An answer."},
        failed=("answer",),
    ),
    "MagpieGenerator": Case(
        lambda llm: tasks.MagpieGenerator(llm=llm, num_rows=1, only_instruction=True),
        None,
        ["What is a river?"],
        [None],
        {"instruction": "What is a river?"},
        {"magpie_pre_query_template": "chatml"},
    ),
    "MonolingualTripletGenerator": Case(
        lambda llm: tasks.MonolingualTripletGenerator(llm=llm),
        None,
        [TRIPLET],
        ["{oops"],
        {"S1": "s one", "S2": "s two", "S3": "s three"},
    ),
    "BitextRetrievalGenerator": Case(
        lambda llm: tasks.BitextRetrievalGenerator(llm=llm, target_language="French"),
        None,
        [TRIPLET],
        ["{oops"],
        {"S1": "s one", "S2": "s two", "S3": "s three"},
    ),
}

# Tasks whose pipeline test with a good and a malformed reply lives in another file.
ELSEWHERE: dict[str, str] = {
    "CLAIR": "test_grounded_tasks.py::test_clair_in_a_pipeline_keeps_a_malformed_row",
    "URIAL": "test_grounded_tasks.py::test_urial_in_a_pipeline_cuts_at_the_next_user_turn",
    "Genstruct": "test_grounded_tasks.py::test_genstruct_keeps_the_trained_layout_and_splits_the_reply",
    "InstructionBacktranslation": (
        "test_grounded_tasks.py::test_instruction_backtranslation_reads_the_last_score"
    ),
    "APIGenGenerator": "test_apigen.py::test_generator_in_a_pipeline_keeps_a_malformed_row",
    "APIGenSemanticChecker": "test_apigen.py::test_semantic_checker_in_a_pipeline",
    "ArgillaLabeller": (
        "test_argilla_labeller.py::test_labeller_in_a_pipeline_keeps_a_malformed_row"
    ),
    "MathShepherdGenerator": (
        "test_math_shepherd.py::test_generator_in_a_pipeline_golden_and_malformed"
    ),
    "MathShepherdCompleter": (
        "test_math_shepherd.py::test_completer_in_a_pipeline_keeps_a_malformed_row"
    ),
    "GenerateTextRetrievalData": (
        "test_improving_text_embeddings.py::test_text_retrieval_in_a_pipeline_keeps_a_malformed_row"
    ),
    "EmbeddingTaskGenerator": (
        "test_improving_text_embeddings.py::test_embedding_task_generator_flattens_tasks_into_rows"
    ),
}

# Tasks that read no LLM reply (so no malformed one), with the test running them on a model.
NO_LLM_REPLIES: dict[str, str] = {
    "APIGenExecutionChecker": "runs the generated calls: tests/tasks/test_apigen.py",
    "FormatPRM": "reformats MathShepherd's rows: tests/tasks/test_math_shepherd.py",
    "GenerateEmbeddings": "hidden states of a tiny local model: "
    "tests/localmodels/test_generate_embeddings.py::test_a_pipeline_writes_the_embeddings",
    "PairRM": "a tiny reward model: tests/localmodels/test_pair_rm.py",
    "ImageGeneration": "an image model, a failed image kept with its row: "
    "tests/tasks/test_image_generation_task.py",
}

NOT_TASKS = {"ChatItem", "ChatType", "FormattedInput", "GeneratorTask", "GlobalTask"}
NOT_TASKS |= {"ImageTask", "Task", "task"}


def test_every_task_has_its_pipeline_test() -> None:
    covered = [*CASES, *GENERATOR_CASES, *ELSEWHERE, *NO_LLM_REPLIES, *NOT_TASKS]
    assert sorted(covered) == sorted(tasks.__all__)
    here = Path(__file__).parent
    for target in ELSEWHERE.values():
        module, function = target.split("::")
        assert (here / module).is_file(), target
        assert callable(getattr(importlib.import_module(module[:-3]), function)), target


def _run(case: Case, llm: Any) -> tuple[_Task, list[dict[str, Any]]]:
    """The task built in the pipeline, and the rows the pipeline wrote."""
    built: list[_Task] = []

    def make() -> _Task:
        built.append(case.make(llm))
        return built[-1]

    rows = run_in_pipeline(make, case.rows)
    return built[0], rows


def _outputs(task: _Task) -> list[str]:
    return [c for c in task.get_outputs() if c != "model_name"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_malformed_reply_keeps_its_row(name: str) -> None:
    case = CASES[name]
    llm = AsyncMockLLM(responses=_keyed(case.good, case.bad), **case.llm_options)
    task, rows = _run(case, llm)
    assert len(rows) == 2
    good, bad = sorted(rows, key=lambda row: BAD in json.dumps(row, default=str))
    assert {k: good[k] for k in case.expected} == case.expected
    assert good[METADATA_COLUMN].get(f"error_{task.name}") is None
    assert all(bad[column] is None for column in _outputs(task)), bad
    assert bad[METADATA_COLUMN][f"error_{task.name}"]


@pytest.mark.parametrize("name", sorted(GENERATOR_CASES))
def test_a_generators_malformed_reply_keeps_its_row(name: str) -> None:
    case = GENERATOR_CASES[name]
    for replies, malformed in ((case.good, False), (case.bad, True)):
        llm = MockLLM(responses=list(replies), **case.llm_options)
        task, (row,) = _run(case, llm)
        error = row[METADATA_COLUMN].get(f"error_{task.name}")
        if malformed:
            assert error, row
            assert all(row[column] is None for column in case.failed or _outputs(task)), row
        else:
            assert {k: row[k] for k in case.expected} == case.expected and error is None
