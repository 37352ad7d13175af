"""QualityScorer and ComplexityScorer: numbered items in, one score per item out."""

from __future__ import annotations

from task_helpers import meta, run

from stillroom.models import MockLLM
from stillroom.models.llms.json_schema import schema_errors
from stillroom.steps.tasks import ComplexityScorer, QualityScorer


def test_quality_scorer_prompt_and_scores() -> None:
    task = QualityScorer(llm=MockLLM(responses="[1] Score: 5\n[2] Score: 2\n"))
    (row,) = run(task, [{"instruction": "Define entropy.", "responses": ["A measure...", "Heat."]}])
    prompt = task.llm.calls[0].prompt
    assert "## Instruction\nDefine entropy." in prompt
    assert "## Response 1\nA measure...\n\n## Response 2\nHeat." in prompt
    assert "[number] Score: score" in prompt
    assert row["scores"] == [5.0, 2.0]


def test_complexity_scorer_prompt_json_mode_and_partial_scores() -> None:
    task = ComplexityScorer(
        llm=MockLLM(responses='{"scores": [1, "N/A", 4.5]}'), use_default_structured_output=True
    )
    (row,) = run(task, [{"instructions": ["Say hi.", "Prove it.", "Plan a city."]}])
    call = task.llm.calls[0]
    assert "## Instruction 3\nPlan a city." in call.prompt
    assert '{"scores": [score of instruction 1' in call.prompt
    assert call.structured_output["schema"]["properties"]["scores"]["type"] == "array"
    assert row["scores"] == [1.0, None, 4.5]


def test_replies_without_scores_keep_the_row() -> None:
    quality = QualityScorer(llm=MockLLM(responses="They are both fine."))
    (row,) = run(quality, [{"instruction": "q", "responses": ["a", "b"]}])
    assert row["scores"] is None
    assert "no score" in meta(row, quality, "error")
    complexity = ComplexityScorer(llm=MockLLM(responses="[1] Score: 2"))
    (row,) = run(complexity, [{"instructions": ["a", "b"]}])
    assert row["scores"] == [2.0, None]


def test_format_output_gives_none_scores_for_an_unreadable_reply() -> None:
    """Called directly (as distilabel's code does), it never raises; a run records why."""
    row = {"instruction": "q", "responses": ["a", "b"]}
    quality = QualityScorer(llm=MockLLM())
    assert quality.format_output("no scores here", row) == {"scores": [None, None]}
    assert quality.format_output(None, row) == {"scores": [None, None]}
    structured = QualityScorer(llm=MockLLM(), use_default_structured_output=True)
    assert structured.format_output("not json", row) == {"scores": [None, None]}


def test_json_mode_bounds_the_number_and_range_of_scores() -> None:
    reply = '{"scores": [2, 5]}'
    quality = QualityScorer(llm=MockLLM(responses=reply), use_default_structured_output=True)
    run(quality, [{"instruction": "q", "responses": ["a", "b"]}])
    complexity = ComplexityScorer(llm=MockLLM(responses=reply), use_default_structured_output=True)
    run(complexity, [{"instructions": ["a", "b", "c"]}])
    for task, count in ((quality, 2), (complexity, 3)):
        schema = task.llm.calls[0].structured_output["schema"]
        scores = schema["properties"]["scores"]
        assert (scores["minItems"], scores["maxItems"]) == (count, count)
        assert (scores["items"]["minimum"], scores["items"]["maximum"]) == (1, count + 1)
        assert schema_errors({"scores": [count + 1] * count}, schema) == []
        assert schema_errors({"scores": [1] * (count + 1)}, schema)
        assert schema_errors({"scores": [count + 2] * count}, schema)
    assert "minItems" not in quality.get_structured_output()["schema"]["properties"]["scores"]


def test_the_scale_follows_the_number_of_items() -> None:
    quality = QualityScorer(llm=MockLLM(responses="[1] Score: 3\n[2] Score: 1"))
    run(quality, [{"instruction": "q", "responses": ["a", "b"]}])
    assert "score from 1 (poor) to 2 (excellent); give 3 only" in quality.llm.calls[0].prompt
    complexity = ComplexityScorer(llm=MockLLM(responses="[1] Score: 1"))
    run(complexity, [{"instructions": ["a", "b", "c", "d"]}])
    assert "from 1 (trivial) to 4 (very demanding); give 5 only" in complexity.llm.calls[0].prompt


def test_none_items_are_left_out_and_get_none_scores() -> None:
    quality = QualityScorer(llm=MockLLM(responses="[1] Score: 2\n[2] Score: 1"))
    (row,) = run(quality, [{"instruction": "q", "responses": ["first", None, "third"]}])
    prompt = quality.llm.calls[0].prompt
    assert "## Response 2\nthird" in prompt and "## Response 3" not in prompt
    assert "None" not in prompt and "to 2 (excellent)" in prompt
    assert row["scores"] == [2.0, None, 1.0]
    complexity = ComplexityScorer(llm=MockLLM(responses="[1] Score: 1"))
    skipped, scored = run(
        complexity, [{"instructions": [None, None]}, {"instructions": [None, "b"]}]
    )
    assert len(complexity.llm.calls) == 1 and scored["scores"] == [None, 1.0]
    assert skipped["scores"] is None
    assert "every item of 'instructions' is None" in meta(skipped, complexity, "error")
