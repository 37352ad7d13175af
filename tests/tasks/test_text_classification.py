"""TextClassification: prompt, JSON schema, parsing of one or several labels."""

from __future__ import annotations

from task_helpers import meta, run

from stillroom.models import MockLLM
from stillroom.steps.tasks import TextClassification

TEXT = "Can I get a refund for my broken kettle?"


def test_prompt_lists_the_labels_and_asks_for_json() -> None:
    task = TextClassification(
        llm=MockLLM(responses='{"labels": "complaint"}'),
        available_labels={"complaint": "the customer is unhappy", "inquiry": "a question"},
        query_title="Customer Message",
    )
    (row,) = run(task, [{"text": TEXT}])
    call = task.llm.calls[0]
    system, user = call.messages
    assert system["role"] == "system"
    prompt = user["content"]
    assert "Assign one label to the customer message below." in prompt
    assert "- complaint: the customer is unhappy\n- inquiry: a question" in prompt
    assert f"## Customer Message\n{TEXT}" in prompt
    assert "\n\nEach label should name, in a word or two, what the text is chiefly about.\n" in (
        prompt
    )
    assert 'answer with "Unclassified"' in prompt
    assert prompt.endswith('{"labels": "label"}')
    schema = call.structured_output["schema"]
    assert schema["properties"]["labels"]["enum"] == ["complaint", "inquiry", "Unclassified"]
    assert row["labels"] == "complaint"


def test_several_labels_are_a_list() -> None:
    reply = 'Sure:\n```json\n{"labels": ["refund", "appliance"]}\n```'
    task = TextClassification(
        llm=MockLLM(responses=reply), n=2, use_default_structured_output=False
    )
    (row,) = run(task, [{"text": TEXT}])
    call = task.llm.calls[0]
    assert call.structured_output is None
    assert call.prompt.endswith('{"labels": ["label_1", "label_2"]}')
    assert "Choose short, widely understood labels" in call.prompt
    assert row["labels"] == ["refund", "appliance"]


def test_malformed_replies_keep_the_row_with_none_labels() -> None:
    task = TextClassification(llm=MockLLM(responses=["complaint", '{"labels": 3}']))
    rows = run(task, [{"text": TEXT}, {"text": "other"}])
    assert [row["labels"] for row in rows] == [None, None]
    assert "no JSON object" in meta(rows[0], task, "error")
    assert "should be a string" in meta(rows[1], task, "error")
    assert meta(rows[0], task, "raw_output") == "complaint"
