"""GenerateSentencePair: system prompt per action, sections or JSON, triplets."""

from __future__ import annotations

from task_helpers import meta, run

from stillroom.models import MockLLM
from stillroom.steps.tasks import GenerateSentencePair

ANCHOR = "How do vaccines train the immune system?"


def test_triplet_with_hard_negative_and_context() -> None:
    reply = "## Positive\nWhat do vaccines teach our immune defences?\n## Negative\nHow do vacuums clean carpets?"
    task = GenerateSentencePair(
        llm=MockLLM(responses=reply),
        action="paraphrase",
        triplet=True,
        hard_negative=True,
        context="Medical FAQ",
    )
    (row,) = run(task, [{"anchor": ANCHOR}])
    system, user = task.llm.calls[0].messages
    assert "must paraphrase the anchor sentence" in system["content"]
    assert "could easily mistake it for a match" in system["content"]
    assert "Use the context given" in system["content"]
    assert "`## Positive` and `## Negative`" in system["content"]
    assert user["content"] == f"## Context\n\nMedical FAQ\n\n## Anchor\n\n{ANCHOR}\n"
    assert row["positive"] == "What do vaccines teach our immune defences?"
    assert row["negative"] == "How do vacuums clean carpets?"
    assert task.get_outputs() == {"positive": True, "negative": True, "model_name": True}


def test_positive_only_with_structured_output() -> None:
    task = GenerateSentencePair(
        llm=MockLLM(responses='{"positive": "vaccine immune training"}'),
        action="query",
        use_default_structured_output=True,
    )
    (row,) = run(task, [{"anchor": ANCHOR}])
    call = task.llm.calls[0]
    assert "must be a query for the anchor" in call.messages[0]["content"]
    assert 'JSON object only: {"positive": "..."}' in call.messages[0]["content"]
    assert call.messages[1]["content"] == f"## Anchor\n\n{ANCHOR}\n"
    assert call.structured_output["schema"]["required"] == ["positive"]
    assert row["positive"] == "vaccine immune training"
    assert "negative" not in row


def test_missing_negative_keeps_the_row_with_none_outputs() -> None:
    task = GenerateSentencePair(
        llm=MockLLM(responses="## Positive\nonly this"), action="answer", triplet=True
    )
    (row,) = run(task, [{"anchor": ANCHOR}])
    assert row["positive"] is None and row["negative"] is None
    assert "no negative sentence" in meta(row, task, "error")
    # called directly, format_output keeps what it could read
    assert task.format_output("## Positive\nonly this") == {
        "positive": "only this",
        "negative": None,
    }


def test_a_json_reply_lacking_the_negative_gives_the_positive_alone() -> None:
    """Called directly, format_output of a JSON reply returns the sentences it holds (no
    `negative` key when it has none, as distilabel's); a run still records the row as
    failed, with both outputs None."""
    task = GenerateSentencePair(
        llm=MockLLM(responses='{"positive": "kept"}'),
        action="paraphrase",
        triplet=True,
        use_default_structured_output=True,
    )
    assert task.format_output('{"positive": "kept"}') == {"positive": "kept"}
    assert task.format_output("not json") == {"positive": None, "negative": None}
    (row,) = run(task, [{"anchor": ANCHOR}])
    assert row["positive"] is None and row["negative"] is None
    assert "no negative sentence" in meta(row, task, "error")
