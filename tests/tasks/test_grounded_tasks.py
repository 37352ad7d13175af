"""CLAIR, URIAL, Genstruct and InstructionBacktranslation: prompts, parsing, malformed replies."""

from __future__ import annotations

from task_helpers import meta, run, run_in_pipeline

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.steps.tasks import CLAIR, URIAL, Genstruct, InstructionBacktranslation


def test_clair_in_a_pipeline_keeps_a_malformed_row() -> None:
    replies = [
        "**Teacher Reasoning:**\nThe sum is wrong.\n\n**Corrected Student Solution:**\n2 + 2 = 4",
        "Looks fine to me.",
    ]
    rows = run_in_pipeline(
        lambda: CLAIR(llm=AsyncMockLLM(responses=replies)),
        [
            {"task": "Add 2 and 2.", "student_solution": "2 + 2 = 5"},
            {"task": "Add 1 and 1.", "student_solution": "2"},
        ],
    )
    by_task = {row["task"]: row for row in rows}
    good, bad = by_task["Add 2 and 2."], by_task["Add 1 and 1."]
    assert (good["revision"], good["rational"]) == ("2 + 2 = 4", "The sum is wrong.")
    assert bad["revision"] is None and bad["rational"] is None
    assert "Corrected Student Solution" in bad["stillroom_metadata"]["error_clair_0"]


def test_clair_prompt_and_distilabel_style_headings() -> None:
    reply = "{teacher_reasoning}: be precise\n{corrected_student_solution}: Paris."
    task = CLAIR(llm=MockLLM(responses=reply), system_prompt="Revise.")
    (row,) = run(task, [{"task": "Capital of France?", "student_solution": "Lyon."}])
    system, user = task.llm.calls[0].messages
    assert system == {"role": "system", "content": "Revise."}
    assert "## Task\nCapital of France?" in user["content"]
    assert "## Student solution\nLyon." in user["content"]
    assert (row["revision"], row["rational"]) == ("Paris.", "be precise")


def test_urial_in_a_pipeline_cuts_at_the_next_user_turn() -> None:
    replies = ["Hello there!\n\n# User:\n\nmore", "   "]
    rows = run_in_pipeline(
        lambda: URIAL(llm=AsyncMockLLM(responses=replies)),
        [{"instruction": "Say hi."}, {"instruction": "Say nothing."}],
    )
    by_input = {row["instruction"]: row for row in rows}
    assert by_input["Say hi."]["generation"] == "Hello there!"
    assert by_input["Say nothing."]["generation"] is None
    assert "empty" in by_input["Say nothing."]["stillroom_metadata"]["error_urial_0"]


def test_urial_renders_a_conversation_and_rejects_one_ending_with_the_assistant() -> None:
    conversation = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "How are you?"},
    ]
    task = URIAL(llm=MockLLM(responses="Fine."))
    good, bad = run(task, [{"conversation": conversation}, {"conversation": conversation[:2]}])
    prompt = task.llm.calls[0].prompt
    assert "# User:\n\nHi\n\n# Assistant:\n\nHello\n\n# User:\n\nHow are you?" in prompt
    assert prompt.endswith("# Assistant:")
    assert good["generation"] == "Fine." and len(task.llm.calls) == 1
    assert bad["generation"] is None and "The last message must be from the user" in meta(
        bad, task, "error"
    )


def test_genstruct_keeps_the_trained_layout_and_splits_the_reply() -> None:
    replies = ["What is X?\n[[[Assistant]]] X is a letter.", "What is Y?"]
    rows = run_in_pipeline(
        lambda: Genstruct(llm=AsyncMockLLM(responses=replies)),
        [{"title": "Letters", "content": "X is a letter. "}, {"title": "Y", "content": "y"}],
    )
    by_title = {row["title"]: row for row in rows}
    assert (by_title["Letters"]["user"], by_title["Letters"]["assistant"]) == (
        "What is X?",
        "X is a letter.",
    )
    assert by_title["Y"]["user"] is None
    assert "[[[Assistant]]]" in by_title["Y"]["stillroom_metadata"]["error_genstruct_0"]
    task = Genstruct(llm=MockLLM(responses="q [[[Assistant]]] a"))
    run(task, [{"title": " T ", "content": "C\n"}])
    assert task.llm.calls[0].prompt.startswith("[[[Title]]] T\n[[[Content]]] C\n\n")
    assert task.llm.calls[0].prompt.endswith("[[[User]]] ")


def test_instruction_backtranslation_reads_the_last_score() -> None:
    replies = ["Clear and complete. Score: 4", "Score: 9 is not on the scale"]
    rows = run_in_pipeline(
        lambda: InstructionBacktranslation(llm=AsyncMockLLM(responses=replies)),
        [{"instruction": "a", "generation": "b"}, {"instruction": "c", "generation": "d"}],
    )
    by_instruction = {row["instruction"]: row for row in rows}
    assert (by_instruction["a"]["score"], by_instruction["a"]["reason"]) == (
        4,
        "Clear and complete.",
    )
    bad = by_instruction["c"]
    assert bad["score"] is None and bad["reason"] is None
    assert "Score: n" in bad["stillroom_metadata"]["error_instruction_backtranslation_0"]
    task = InstructionBacktranslation(llm=MockLLM(responses="ok\nScore: 5"))
    (row,) = run(task, [{"instruction": "Name a colour.", "generation": "Blue."}])
    assert "## Instruction\nName a colour.\n\n## Answer\nBlue." in task.llm.calls[0].prompt
    assert row["score"] == 5
