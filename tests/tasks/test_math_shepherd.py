"""Math-Shepherd: golden and candidate solutions, per-step labels by completion, FormatPRM."""

from __future__ import annotations

import json
from typing import Any

import pytest
from task_helpers import meta, run, run_in_pipeline

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.steps.tasks import FormatPRM, MathShepherdCompleter, MathShepherdGenerator
from stillroom.steps.tasks.math_shepherd.generator import RULES_MATH
from stillroom.steps.tasks.math_shepherd.utils import parse_json_response, split_solution_steps

GOLDEN = "Step 1: 6 * 3 = <<6*3=18>>18.\nStep 2: 18 - 4 = <<18-4=14>>14. The answer is: 14"


def test_split_solution_steps_and_json_with_stray_escapes() -> None:
    assert split_solution_steps(GOLDEN) == [
        "Step 1: 6 * 3 = <<6*3=18>>18.",
        "Step 2: 18 - 4 = <<18-4=14>>14.",
        "The answer is: 14",
    ]
    assert split_solution_steps("no steps here") == []
    assert parse_json_response('{"a": "f\\(x\\)"}') == {"a": "f(x)"}
    assert parse_json_response("[1]") is None and parse_json_response("{oops") is None


def test_generator_in_a_pipeline_golden_and_malformed() -> None:
    rows = run_in_pipeline(
        lambda: MathShepherdGenerator(llm=AsyncMockLLM(responses=[GOLDEN, "I am not sure."])),
        [{"instruction": "Six packs of 3, minus 4?"}, {"instruction": "Hard one"}],
    )
    by_instruction = {row["instruction"]: row for row in rows}
    assert by_instruction["Six packs of 3, minus 4?"]["golden_solution"][-1] == "The answer is: 14"
    bad = by_instruction["Hard one"]
    assert bad["golden_solution"] is None
    assert "Step n:" in bad["stillroom_metadata"]["error_math_shepherd_generator_0"]


def test_generator_with_m_reads_several_solutions_and_system_prompt_blocks() -> None:
    reply = (
        f"{GOLDEN}\n---\nStep 1: 6 + 3 = 9. The answer is: 5\n---\nStep 1: extra. The answer is: 0"
    )
    task = MathShepherdGenerator(llm=MockLLM(responses=reply), M=2, extra_rules=RULES_MATH)
    (row,) = run(task, [{"instruction": "q"}])
    assert task.outputs == ["solutions", "model_name"]
    assert [s[-1] for s in row["solutions"]] == ["The answer is: 14", "The answer is: 5"]
    system, user = task.llm.calls[0].messages
    assert "LaTeX" in system["content"] and "<<4*24=96>>96" in system["content"]
    assert "Write 2 different solutions" in user["content"] and user["content"].endswith("q")
    plain = MathShepherdGenerator(llm=MockLLM(responses=GOLDEN), system_prompt=None)
    run(plain, [{"instruction": "q"}])
    assert plain.llm.calls[0].messages == [{"role": "user", "content": "q"}]


def test_generator_structured_output() -> None:
    reply = json.dumps({"solutions": [{"solution": GOLDEN}, {"solution": GOLDEN}]})
    task = MathShepherdGenerator(
        llm=MockLLM(responses=reply), M=2, use_default_structured_output=True
    )
    (row,) = run(task, [{"instruction": "q"}])
    call = task.llm.calls[0]
    assert call.structured_output["schema"]["properties"]["solutions"]["type"] == "array"
    assert '{"solutions": [{"solution"' in call.messages[0]["content"]
    assert len(row["solutions"]) == 2 and row["solutions"][0][0].startswith("Step 1:")


def _completer_row() -> dict[str, object]:
    return {
        "instruction": "Six packs of 3, minus 4?",
        "golden_solution": split_solution_steps(GOLDEN),
        "solutions": [
            ["Step 1: 6 * 3 = 18.", "Step 2: 18 + 4 = 22.", "Step 3: check.", "The answer is: 22"],
            ["The answer is: 14"],
        ],
    }


def test_completer_tags_each_step_by_its_completions() -> None:
    def reply(messages: list[dict[str, str]]) -> str:
        prompt = messages[-1]["content"]
        # completing after step 1 can still reach 14; after step 2 it cannot
        if prompt.endswith("Step 1: 6 * 3 = 18."):
            return "Step 2: 18 - 4 = 14. The answer is: 14\n---\nStep 2: 18 + 4. The answer is: 22"
        return "Step 3: 22. The answer is: 22\n---\nStep 3: still 22. The answer is: 22"

    task = MathShepherdCompleter(llm=MockLLM(responses=reply), N=2)
    (row,) = run(task, [_completer_row()])
    assert row["solutions"] == [
        ["Step 1: 6 * 3 = 18. +", "Step 2: 18 + 4 = 22. -", "Step 3: check. The answer is: 22 -"],
        ["The answer is: 14"],
    ]
    assert len(task.llm.calls) == 2
    assert "Write 2 possible continuations" in task.llm.calls[0].prompt
    assert len(meta(row, task, "raw_output")) == 2


def test_completer_in_a_pipeline_keeps_a_malformed_row() -> None:
    rows = run_in_pipeline(
        lambda: MathShepherdCompleter(llm=AsyncMockLLM(responses="I give up.")),
        [_completer_row()],
    )
    (row,) = rows
    assert row["solutions"] is None
    assert (
        "could not read the reply" in row["stillroom_metadata"]["error_math_shepherd_completer_0"]
    )


def test_completer_labels_a_batch_and_keeps_a_row_whose_reply_is_unreadable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All the rows' completion requests go out together; a row whose reply holds no
    solution gets `solutions` None and the error, the other row of the batch its labels,
    with the token counts of each of its requests."""

    def reply(messages: list[dict[str, str]]) -> str:
        if "unreadable" in messages[-1]["content"]:
            return "I give up."
        return "Step 2: 18 - 4 = 14. The answer is: 14"

    batches: list[int] = []
    send = MathShepherdCompleter.generate_all

    def counted(task: MathShepherdCompleter, inputs: list[Any]) -> list[Any]:
        batches.append(len(inputs))
        return send(task, inputs)

    monkeypatch.setattr(MathShepherdCompleter, "generate_all", counted)
    task = MathShepherdCompleter(llm=MockLLM(responses=reply))
    bad = {**_completer_row(), "instruction": "unreadable"}
    good, failed = run(task, [_completer_row(), bad])
    assert batches == [4]  # two steps to complete in each row, sent as one batch
    assert good["solutions"][0][0] == "Step 1: 6 * 3 = 18. +"
    assert meta(good, task, "error") is None
    tokens = meta(good, task, "statistics")["input_tokens"]
    assert len(tokens) == 2 and all(isinstance(count, int) and count > 0 for count in tokens)
    assert len(meta(good, task, "raw_input")) == 2
    assert failed["solutions"] is None
    assert "could not read the reply" in meta(failed, task, "error")
    assert failed["model_name"] == good["model_name"] == task.llm.model_name


def test_completer_auto_label_tags_steps_by_position_and_skips_what_it_cannot() -> None:
    """`_auto_label` takes every request's completions with the (row, solution, step) each
    labels, and one golden answer, statistics and raw entries per row. A completion list
    with no completion leaves its step untagged; a position past an empty solution is
    skipped; a final answer is tagged by comparing it with the golden one."""
    task = MathShepherdCompleter(llm=MockLLM(), add_raw_input=False)
    rows = [
        {"instruction": "q", "solutions": [["Step 1: a.", "Step 2: b.", "The answer is: 7."], []]}
    ]
    completions = [[["Step 2: x.", "The answer is: 7"], ["The answer is: 8"]], [], [[]]]
    positions = [(0, 0, 0), (0, 0, 1), (0, 1, 0)]
    stats = {"input_tokens": [3, 3, 3], "output_tokens": [5, 5, 5]}
    (row,) = task._auto_label(
        rows, completions, positions, ["The answer is: 7"], [stats], [["r1", "r2"]], [[]]
    )
    assert row["solutions"] == [["Step 1: a. +", "Step 2: b. The answer is: 7. +"], []]
    assert rows[0]["solutions"][0][0] == "Step 1: a."  # the input rows are left as they were
    assert row["stillroom_metadata"] == {
        f"statistics_{task.name}": stats,
        f"raw_output_{task.name}": ["r1", "r2"],
    }
    assert row["model_name"] == task.llm.model_name


def test_completer_requests_carry_the_schema_not_format_input() -> None:
    reply = json.dumps({"solutions": [{"solution": "Step 2: 14. The answer is: 14"}]})
    task = MathShepherdCompleter(llm=MockLLM(responses=reply), use_default_structured_output=True)
    assert isinstance(task.format_input({"instruction": "q"}), list)
    (row,) = run(task, [_completer_row()])
    assert row["solutions"][0][0] == "Step 1: 6 * 3 = 18. +"
    assert all(call.structured_output == task.get_structured_output() for call in task.llm.calls)


def test_format_prm_both_layouts() -> None:
    row = {"instruction": "q", "solutions": ["Step 1: a +", "Step 2: b -", "Step 3: c. 4 +"]}
    shepherd = FormatPRM()
    shepherd.load()
    (out,) = next(shepherd.process([dict(row)]))
    assert out["input"] == "q Step 1: a ки\nStep 2: b ки\nStep 3: c. 4 ки"
    assert out["label"] == "q Step 1: a +\nStep 2: b -\nStep 3: c. 4 +"
    trl = FormatPRM(format="trl", step_token="<s>")
    trl.load()
    (out,) = next(trl.process([dict(row)]))
    assert out["prompt"] == "q" and out["completions"] == ["Step 1: a", "Step 2: b", "Step 3: c. 4"]
    assert out["labels"] == [True, False, True]
    assert trl.outputs == ["prompt", "completions", "labels"]
