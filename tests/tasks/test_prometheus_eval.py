"""PrometheusEval: absolute and relative prompts, rubrics, reference, [RESULT] parsing."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError
from task_helpers import meta, run

from stillroom.models import MockLLM
from stillroom.steps.tasks import PrometheusEval
from stillroom.steps.tasks.prometheus_eval import DEFAULT_RUBRIC_NAMES


def test_absolute_with_reference() -> None:
    task = PrometheusEval(
        llm=MockLLM(responses="Feedback: Accurate and complete. [RESULT] 4"),
        mode="absolute",
        rubric="factual-validity",
        reference=True,
    )
    assert task.get_inputs() == {"instruction": True, "generation": True, "reference": True}
    (row,) = run(
        task,
        [
            {
                "instruction": "Boiling point of water?",
                "generation": "100 °C",
                "reference": "100 °C at sea level",
            }
        ],
    )
    system, user = task.llm.calls[0].messages
    assert "assess a single response" in system["content"]
    prompt = user["content"]
    assert "###Response to evaluate:\n100 °C" in prompt
    assert "###Reference answer (score 5):\n100 °C at sea level" in prompt
    assert "###Score rubric:\n[Are the facts in the response correct" in prompt
    assert prompt.endswith("###Feedback:")
    assert row["feedback"] == "Accurate and complete."
    assert row["result"] == 4


def test_relative_without_reference() -> None:
    task = PrometheusEval(
        llm=MockLLM(responses="Feedback: B explains more. [RESULT] B"),
        mode="relative",
        rubric="helpfulness",
    )
    (row,) = run(
        task,
        [
            {
                "instruction": "Explain DNS.",
                "generations": ["It's a thing.", "DNS maps names to IPs."],
            }
        ],
    )
    prompt = task.llm.calls[0].prompt
    assert "###Response A:\nIt's a thing.\n\n###Response B:\nDNS maps names to IPs." in prompt
    assert "Reference answer" not in prompt
    assert row["result"] == "B"
    assert row["feedback"] == "B explains more."


def test_malformed_verdicts_keep_the_row() -> None:
    task = PrometheusEval(
        llm=MockLLM(responses=["Feedback: fine.", "Feedback: ok [RESULT] 7"]),
        mode="absolute",
        rubric="reasoning",
    )
    rows = run(
        task, [{"instruction": "i", "generation": "g"}, {"instruction": "i", "generation": "g"}]
    )
    assert [(r["feedback"], r["result"]) for r in rows] == [(None, None), (None, None)]
    assert "no [RESULT]" in meta(rows[0], task, "error")
    assert "from 1 to 5" in meta(rows[1], task, "error")
    # called directly, format_output gives the Nones without raising
    assert task.format_output("Feedback: ok [RESULT] 7") == {"feedback": None, "result": None}
    assert task.format_output(None) == {"feedback": None, "result": None}


def test_rubric_validation_and_relative_input_check() -> None:
    assert set(PrometheusEval(llm=MockLLM(), mode="absolute", rubric="honesty").rubrics) == set(
        DEFAULT_RUBRIC_NAMES
    )
    with pytest.raises(ValidationError, match="not one of"):
        PrometheusEval(llm=MockLLM(), mode="absolute", rubric="style")
    with pytest.raises(ValidationError, match="Score 1"):
        PrometheusEval(llm=MockLLM(), mode="absolute", rubric="x", rubrics={"x": "Be nice."})
    custom = "[Is it short?]\n" + "\n".join(f"Score {i}: level {i}" for i in range(1, 6))
    PrometheusEval(llm=MockLLM(), mode="absolute", rubric="short", rubrics={"short": custom})
    task = PrometheusEval(llm=MockLLM(), mode="relative", rubric="honesty")
    (row,) = run(task, [{"instruction": "i", "generations": ["only one"]}])
    assert row["result"] is None
    assert "exactly two texts" in meta(row, task, "error")
    assert task.llm.calls == []


@pytest.mark.parametrize("mode", ["absolute", "relative"])
def test_prompt_keeps_the_trained_format_in_its_own_guidance(mode: str) -> None:
    task = PrometheusEval(llm=MockLLM(), mode=mode, rubric="honesty", reference=True)
    prompt = task.format_input(
        {"instruction": "i", "generation": "g", "generations": ["a", "b"], "reference": "r"}
    )[1]["content"]
    assert prompt.startswith("###Task Description:\n")  # the template comment is not sent
    verdict = "<1-5>" if mode == "absolute" else "<A or B>"
    assert f"[RESULT] {verdict}" in prompt
    assert "what a response worth 5 looks like" in prompt
    assert not re.search(r"^\d\. ", prompt, re.MULTILINE)  # guidance in bullets, our wording


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("Feedback: both are equally good [RESULT] Tie", "expected A or B after [RESULT]"),
        ("Feedback: A is better [RESULT] C", "expected A or B after [RESULT]"),
        ("Response A is better.", "no [RESULT] marker"),
        ("Feedback: A wins [RESULT]", "expected A or B after [RESULT]"),
    ],
)
def test_malformed_relative_verdicts_keep_the_row(reply: str, problem: str) -> None:
    task = PrometheusEval(llm=MockLLM(responses=reply), mode="relative", rubric="honesty")
    (row,) = run(task, [{"instruction": "i", "generations": ["a", "b"], "id": 7}])
    assert row["id"] == 7
    assert (row["feedback"], row["result"]) == (None, None)
    assert problem in meta(row, task, "error")
    assert meta(row, task, "raw_output") == reply


def test_relative_verdict_letter_is_read_in_any_case() -> None:
    task = PrometheusEval(
        llm=MockLLM(responses="Feedback: B is clearer. [RESULT] (b)"),
        mode="relative",
        rubric="honesty",
    )
    (row,) = run(task, [{"instruction": "i", "generations": ["a", "b"]}])
    assert (row["feedback"], row["result"]) == ("B is clearer.", "B")


def test_rows_of_the_wrong_shape_are_value_errors_naming_the_column() -> None:
    """A generation that is not text (absolute) or not two texts (relative) is the user's
    data error: a ValueError, as distilabel raises; a missing reference a KeyError."""
    absolute = PrometheusEval(llm=MockLLM(), mode="absolute", rubric="honesty")
    with pytest.raises(ValueError, match="'generation' must hold text, got int"):
        absolute.format_input({"instruction": "i", "generation": 1})
    relative = PrometheusEval(llm=MockLLM(), mode="relative", rubric="honesty")
    for generations in ([], ["a"], ["a", "b", "c"], ["a", 2]):
        with pytest.raises(ValueError, match="exactly two texts"):
            relative.format_input({"instruction": "i", "generations": generations})
    referenced = PrometheusEval(llm=MockLLM(), mode="absolute", rubric="honesty", reference=True)
    with pytest.raises(KeyError, match="reference"):
        referenced.format_input({"instruction": "i", "generation": "g"})
    with pytest.raises(ValidationError, match=r"rubrics\.custom"):
        PrometheusEval(llm=MockLLM(), mode="absolute", rubric="custom", rubrics={"custom": 1})
