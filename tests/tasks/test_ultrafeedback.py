"""UltraFeedback: one prompt per aspect, blocks per text, typed aspects, JSON mode."""

from __future__ import annotations

import pytest
from task_helpers import meta, run

from stillroom.models import MockLLM
from stillroom.models.llms.json_schema import schema_errors
from stillroom.steps.tasks import UltraFeedback

ROW = {"instruction": "Name a prime number.", "generations": ["7", "9", "2"]}


@pytest.mark.parametrize(
    ("aspect", "phrase"),
    [
        ("overall-rating", "Judge the overall quality of each text"),
        ("honesty", "Judge honesty"),
        ("instruction-following", "Judge instruction following"),
        ("helpfulness", "Judge how informative and helpful"),
        ("truthfulness", "Judge truthfulness"),
    ],
)
def test_prompt_per_aspect(aspect: str, phrase: str) -> None:
    task = UltraFeedback(llm=MockLLM(responses="Rating: 3\nRationale: ok"), aspect=aspect)
    run(task, [ROW])
    system, user = task.llm.calls[0].messages
    assert "You will receive the instruction and 3 texts." in system["content"]
    prompt = user["content"]
    assert phrase in prompt
    assert "# Instruction\nName a prime number." in prompt
    assert "<text 2>\n9\n</text 2>" in prompt
    assert ("Rating rationale:" in prompt) == (aspect in ("helpfulness", "truthfulness"))


def test_overall_rating_parses_each_block_and_none_for_an_unreadable_one() -> None:
    reply = (
        "#### Text 1\nRating: 5\nRationale: 7 is prime.\n\n"
        "#### Text 2\nRating: 1\nRationale: 9 = 3 x 3.\n\n"
        "#### Text 3\nRating: great\nRationale: 2 is the only even prime,\nand correct."
    )
    task = UltraFeedback(llm=MockLLM(responses=reply))
    (row,) = run(task, [ROW])
    assert row["ratings"] == [5, 1, None]
    assert row["rationales"] == [
        "7 is prime.",
        "9 = 3 x 3.",
        "2 is the only even prime,\nand correct.",
    ]
    assert task.get_outputs() == {"ratings": True, "rationales": True, "model_name": True}


def test_typed_aspect_reads_types_and_both_rationales() -> None:
    reply = (
        "#### Text 1\nType: None\nRationale: no hallucination\nRating: 5\nRating rationale: true\n\n"
        "#### Text 2\nType: 1\nRationale: wrong fact\nRating: 2\nRating rationale: 9 is not prime\n\n"
        "#### Text 3\nType: None\nRationale: fine\nRating: 5\nRating rationale: true"
    )
    task = UltraFeedback(llm=MockLLM(responses=reply), aspect="truthfulness")
    (row,) = run(task, [ROW])
    assert row["types"] == [None, 1, None]
    assert row["ratings"] == [5, 2, 5]
    assert row["rationales"][1] == "wrong fact"
    assert row["rationales-for-ratings"][1] == "9 is not prime"


def test_blank_line_separated_blocks_without_headers_are_read() -> None:
    reply = "Rating: 4\nRationale: a\n\nRating: 2\nRationale: b\n\nRating: 5\nRationale: c"
    task = UltraFeedback(llm=MockLLM(responses=reply), aspect="honesty")
    (row,) = run(task, [ROW])
    assert row["ratings"] == [4, 2, 5]


def test_json_mode() -> None:
    reply = '{"ratings": [5, 1, 4], "rationales": ["a", "b", "c"]}'
    task = UltraFeedback(llm=MockLLM(responses=reply), use_default_structured_output=True)
    (row,) = run(task, [ROW])
    call = task.llm.calls[0]
    assert set(call.structured_output["schema"]["properties"]) == {"ratings", "rationales"}
    assert '{"ratings": [rating, ...]' in call.prompt
    assert row["ratings"] == [5, 1, 4]


def test_unreadable_reply_keeps_the_row_with_none_outputs() -> None:
    task = UltraFeedback(llm=MockLLM(responses="All three are decent answers."))
    (row,) = run(task, [ROW])
    assert row["ratings"] is None and row["rationales"] is None
    assert "no rating" in meta(row, task, "error")


def test_a_missing_generation_is_shown_as_such() -> None:
    task = UltraFeedback(
        llm=MockLLM(responses="Rating: 4\nRationale: ok\n\nRating: 1\nRationale: none")
    )
    (row,) = run(task, [{"instruction": "q", "generations": ["an answer", None]}])
    assert "<text 2>\n(no text: generation failed)\n</text 2>" in task.llm.calls[0].prompt
    assert row["ratings"] == [4, 1]


@pytest.mark.parametrize(
    "reply",
    [
        "#### Text 1\nRationale: fine\n\n#### Text 2\nRationale: poor",
        "Rating: 9\nRationale: a\n\nRating: zero\nRationale: b",
        '{"ratings": [null, null, null], "rationales": ["a", "b", "c"]}',
    ],
)
def test_a_reply_without_any_rating_is_an_error(reply: str) -> None:
    structured = reply.startswith("{")
    task = UltraFeedback(llm=MockLLM(responses=reply), use_default_structured_output=structured)
    (row,) = run(task, [ROW])
    assert row["ratings"] is None and row["rationales"] is None
    assert "no rating from 1 to 5 could be read for any of the 3 texts" in meta(row, task, "error")


def test_text_headers_followed_by_fields_on_the_same_line() -> None:
    reply = "Text 1: Rating: 4\nRationale: ok\nText 2: Rating: 2\nRationale: meh\nText 3: Rating: 5"
    task = UltraFeedback(llm=MockLLM(responses=reply))
    (row,) = run(task, [ROW])
    assert row["ratings"] == [4, 2, 5]
    assert row["rationales"] == ["ok", "meh", None]


@pytest.mark.parametrize("aspect", ["overall-rating", "truthfulness"])
def test_json_mode_bounds_the_lists_and_ratings(aspect: str) -> None:
    reply = '{"ratings": [5, 1, 4], "rationales": ["a", "b", "c"]}'
    task = UltraFeedback(
        llm=MockLLM(responses=reply), aspect=aspect, use_default_structured_output=True
    )
    run(task, [ROW])
    schema = task.llm.calls[0].structured_output["schema"]
    for prop in schema["properties"].values():
        assert (prop["minItems"], prop["maxItems"]) == (3, 3)
    assert schema["properties"]["ratings"]["items"]["maximum"] == 5
    columns = list(schema["properties"])
    good = {c: [1, 2, 3] if c in ("ratings", "types") else ["a", "b", "c"] for c in columns}
    assert schema_errors(good, schema) == []
    assert schema_errors({**good, "ratings": [1, 2, 3, 4]}, schema)
    assert schema_errors({**good, "ratings": [6, 2, 3]}, schema)


def test_a_second_rationale_after_the_rating_explains_the_rating() -> None:
    reply = "Type: 1\nRationale: clear\nRating: 4\nRationale: mostly right\n\nType: 2\nRationale: vague\nRating: 2\nRationale: wrong"
    task = UltraFeedback(llm=MockLLM(responses=reply), aspect="truthfulness")
    (row,) = run(task, [{"instruction": "q", "generations": ["a", "b"]}])
    assert row["rationales"] == ["clear", "vague"]
    assert row["ratings"] == [4, 2]
    assert row["rationales-for-ratings"] == ["mostly right", "wrong"]
