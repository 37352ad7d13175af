"""SFT and DPO formatting steps and ConversationTemplate on sample rows."""

from __future__ import annotations

import hashlib

import pytest

from stillroom.errors import InvalidRowsError, MissingColumnsError
from stillroom.steps import (
    ConversationTemplate,
    FormatChatGenerationDPO,
    FormatChatGenerationSFT,
    FormatTextGenerationDPO,
    FormatTextGenerationSFT,
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- SFT -----------------------------------------------------------------------------------


def test_text_sft_builds_messages_prompt_and_id() -> None:
    sft = FormatTextGenerationSFT()
    assert sft.get_inputs() == {"instruction": True, "generation": True, "system_prompt": False}
    (rows,) = sft.process([{"instruction": "Dis bonjour ☀", "generation": "Bonjour !", "k": 1}])
    assert rows == [
        {
            "instruction": "Dis bonjour ☀",
            "generation": "Bonjour !",
            "k": 1,
            "prompt": "Dis bonjour ☀",
            "prompt_id": sha("Dis bonjour ☀"),
            "messages": [
                {"role": "user", "content": "Dis bonjour ☀"},
                {"role": "assistant", "content": "Bonjour !"},
            ],
        }
    ]


def test_text_sft_system_prompt_only_when_non_empty() -> None:
    sft = FormatTextGenerationSFT()
    (rows,) = sft.process(
        [
            {"instruction": "q", "generation": "a", "system_prompt": "Be brief."},
            {"instruction": "q", "generation": "a", "system_prompt": ""},
        ]
    )
    assert rows[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in rows[1]["messages"]] == ["user", "assistant"]
    assert rows[0]["prompt_id"] == rows[1]["prompt_id"]  # the id depends on the prompt only


def test_text_sft_keeps_failed_generation_and_rejects_non_text() -> None:
    sft = FormatTextGenerationSFT()
    (rows,) = sft.process([{"instruction": "q", "generation": None}])
    assert rows[0]["messages"][-1] == {"role": "assistant", "content": None}
    with pytest.raises(InvalidRowsError, match=r"'generation' of row 0 should be a string"):
        next(sft.process([{"instruction": "q", "generation": ["a", "b"]}]))
    with pytest.raises(MissingColumnsError, match="generation"):
        next(sft.process([{"instruction": "q"}]))
    assert list(sft.process([])) == [[]]


def test_chat_sft_appends_the_answer_and_uses_first_user_turn() -> None:
    sft = FormatChatGenerationSFT()
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second"},
    ]
    (rows,) = sft.process([{"messages": messages, "generation": "answer"}])
    assert rows[0]["prompt"] == "first" and rows[0]["prompt_id"] == sha("first")
    assert rows[0]["messages"] == [*messages, {"role": "assistant", "content": "answer"}]
    assert len(messages) == 4  # the input list is not modified


def test_chat_sft_bad_messages() -> None:
    sft = FormatChatGenerationSFT()
    with pytest.raises(InvalidRowsError, match="no user message"):
        next(sft.process([{"messages": [{"role": "system", "content": "s"}], "generation": "a"}]))
    with pytest.raises(InvalidRowsError, match="list of messages"):
        next(sft.process([{"messages": "hello", "generation": "a"}]))


# --- DPO -----------------------------------------------------------------------------------


def test_text_dpo_picks_highest_and_lowest() -> None:
    dpo = FormatTextGenerationDPO()
    row = {
        "system_prompt": "sys",
        "instruction": "2+2?",
        "generations": ["5", "4", "four"],
        "ratings": [1, 5, 3.5],
        "generation_models": ["m1", "m2", "m3"],
    }
    (rows,) = dpo.process([row])
    out = rows[0]
    conversation = [{"role": "system", "content": "sys"}, {"role": "user", "content": "2+2?"}]
    assert out["prompt"] == "2+2?" and out["prompt_id"] == sha("2+2?")
    assert out["chosen"] == [*conversation, {"role": "assistant", "content": "4"}]
    assert out["rejected"] == [*conversation, {"role": "assistant", "content": "5"}]
    assert (out["chosen_rating"], out["rejected_rating"]) == (5, 1)
    assert (out["chosen_model"], out["rejected_model"]) == ("m2", "m1")
    assert dpo.get_outputs()["chosen_model"] is False  # optional output


def test_text_dpo_ties_give_two_generations_and_no_models_no_model_columns() -> None:
    (rows,) = FormatTextGenerationDPO().process(
        [{"instruction": "q", "generations": ["a", "b"], "ratings": [3, 3]}]
    )
    out = rows[0]
    assert out["chosen"][-1]["content"] == "a" and out["rejected"][-1]["content"] == "b"
    assert "chosen_model" not in out and "rejected_model" not in out


def test_text_dpo_skips_unrated_and_keeps_rows_without_a_pair() -> None:
    dpo = FormatTextGenerationDPO()
    (rows,) = dpo.process(
        [
            {"instruction": "q", "generations": ["a", None, "c"], "ratings": [2, 9, None]},
            {"instruction": "q", "generations": ["a", "b", "c"], "ratings": [None, 4, 2]},
        ]
    )
    first, second = rows
    assert first["chosen"] is None and first["rejected"] is None and first["chosen_rating"] is None
    assert first["prompt"] == "q"  # the row is kept, with an empty pair
    assert second["chosen"][-1]["content"] == "b" and second["rejected"][-1]["content"] == "c"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"generations": "a", "ratings": [1]}, "'generations' of row 0 should be a list"),
        ({"generations": ["a"], "ratings": [1]}, "at least two"),
        ({"generations": ["a", "b"], "ratings": [1]}, "2 generations but 1 ratings"),
        ({"generations": ["a", "b"], "ratings": [1, "high"]}, "should be numbers"),
        (
            {"generations": ["a", "b"], "ratings": [1, 2], "generation_models": ["m"]},
            "one model per generation",
        ),
    ],
)
def test_text_dpo_structural_errors(row: dict, message: str) -> None:
    with pytest.raises(InvalidRowsError, match=message):
        next(FormatTextGenerationDPO().process([{"instruction": "q", **row}]))


def test_chat_dpo_continues_the_conversation() -> None:
    messages = [{"role": "user", "content": "Salut"}]
    (rows,) = FormatChatGenerationDPO().process(
        [{"messages": messages, "generations": ["Coucou", "..."], "ratings": [4.5, 1.0]}]
    )
    out = rows[0]
    assert out["prompt"] == "Salut" and out["prompt_id"] == sha("Salut")
    assert out["chosen"] == [*messages, {"role": "assistant", "content": "Coucou"}]
    assert out["rejected"] == [*messages, {"role": "assistant", "content": "..."}]
    assert FormatChatGenerationDPO().get_inputs() == {
        "messages": True,
        "generations": True,
        "ratings": True,
        "generation_models": False,
    }


# --- ConversationTemplate ------------------------------------------------------------------


def test_conversation_template() -> None:
    template = ConversationTemplate()
    (rows,) = template.process([{"instruction": "Hola", "response": "¡Hola!"}])
    assert rows[0]["conversation"] == [
        {"role": "user", "content": "Hola"},
        {"role": "assistant", "content": "¡Hola!"},
    ]
    with pytest.raises(MissingColumnsError, match="response"):
        next(template.process([{"instruction": "x"}]))
    with pytest.raises(InvalidRowsError, match="should be a string"):
        next(template.process([{"instruction": 3, "response": "x"}]))


def test_dpo_keeps_a_row_whose_rating_request_failed() -> None:
    from stillroom.steps import FormatTextGenerationDPO

    dpo = FormatTextGenerationDPO()
    (rows,) = dpo.process([{"instruction": "q", "generations": ["a", "b"], "ratings": None}])
    assert rows[0]["generations"] == ["a", "b"]
    assert rows[0]["chosen"] is None and rows[0]["rejected"] is None
    assert rows[0]["prompt"] == "q"
