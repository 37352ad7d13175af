"""ArgillaLabeller: Argilla 2.x serialized records and questions in, a suggestion out."""

from __future__ import annotations

from typing import Any

from task_helpers import meta, run, run_in_pipeline

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.steps.tasks import ArgillaLabeller

FIELD = {"name": "text", "title": "Text", "settings": {"type": "text"}}
SENTIMENT = {
    "name": "sentiment",
    "description": "What is the sentiment of the text?",
    "settings": {
        "type": "label_selection",
        "options": [
            {"value": "positive", "text": "Positive"},
            {"value": "negative", "text": "Negative"},
        ],
    },
}
RATING = {
    "name": "quality",
    "settings": {"type": "rating", "options": [{"value": v} for v in (1, 2, 3)]},
}


def _record(text: str, answer: Any = None) -> dict[str, Any]:
    responses = {"sentiment": [{"value": answer, "user_id": "u"}]} if answer else {}
    return {"fields": {"text": text}, "responses": responses, "metadata": {}}


class Serializable:
    """Stands for an Argilla settings object: it serializes itself to the dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def serialize(self) -> dict[str, Any]:
        return self.data


def test_labeller_in_a_pipeline_keeps_a_malformed_row() -> None:
    replies = ['{"label": "positive"}', '{"label": "neutral"}']
    rows = run_in_pipeline(
        lambda: ArgillaLabeller(
            llm=AsyncMockLLM(responses=replies), fields=[FIELD], question=SENTIMENT
        ),
        [{"record": _record("I love it")}, {"record": _record("Meh")}],
    )
    by_text = {row["record"]["fields"]["text"]: row for row in rows}
    assert by_text["I love it"]["suggestion"] == {
        "value": "positive",
        "question_name": "sentiment",
        "type": "model",
        "agent": "mock",
    }
    bad = by_text["Meh"]
    assert bad["suggestion"] is None
    assert (
        "'neutral' is not one of the allowed values"
        in (bad["stillroom_metadata"]["error_argilla_labeller_0"])
    )


def test_prompt_examples_guidelines_and_schema() -> None:
    task = ArgillaLabeller(
        llm=MockLLM(responses='{"label": "negative"}'),
        fields=[Serializable(FIELD)],
        question=Serializable(SENTIMENT),
        example_records=[_record("Great!", "positive"), _record("No answer")],
        guidelines="Sarcasm counts as negative.",
    )
    (row,) = run(task, [{"record": _record("Oh great, it broke.")}])
    call = task.llm.calls[0]
    prompt = call.prompt
    assert "## Annotation guidelines\nSarcasm counts as negative." in prompt
    assert 'text: Great!\nanswer: {"label": "positive"}' in prompt and "No answer" not in prompt
    assert "What is the sentiment of the text?" in prompt
    assert "Allowed values: positive, negative" in prompt
    assert "## Record\ntext: Oh great, it broke." in prompt
    assert call.structured_output["schema"]["properties"]["label"]["enum"] == [
        "positive",
        "negative",
    ]
    assert row["suggestion"]["value"] == "negative"


def test_row_settings_override_and_other_question_types() -> None:
    multi = {**SENTIMENT, "settings": {**SENTIMENT["settings"], "type": "multi_label_selection"}}
    text = {"name": "summary", "settings": {"type": "text"}}
    task = ArgillaLabeller(
        llm=MockLLM(responses=['{"rating": "2"}', '{"labels": ["positive"]}', '{"text": "ok"}']),
        fields=[FIELD],
    )
    rows = run(
        task,
        [
            {"record": _record("a"), "question": RATING},
            {"record": _record("b"), "question": multi},
            {"record": _record("c"), "question": text},
        ],
    )
    assert [row["suggestion"]["value"] for row in rows] == [2, ["positive"], "ok"]
    assert [row["suggestion"]["question_name"] for row in rows] == [
        "quality",
        "sentiment",
        "summary",
    ]


def test_missing_or_unsupported_question_sends_nothing() -> None:
    task = ArgillaLabeller(llm=MockLLM(responses="{}"), fields=[FIELD])
    bad_type = {"name": "x", "settings": {"type": "ranking"}}
    none, unsupported = run(
        task, [{"record": _record("a")}, {"record": _record("b"), "question": bad_type}]
    )
    assert task.llm.calls == []
    assert "no question" in meta(none, task, "error")
    assert "unsupported question type 'ranking'" in meta(unsupported, task, "error")
