"""APIGen: generated calls, their sandboxed execution, and the semantic check."""

from __future__ import annotations

import json
import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest
from task_helpers import meta, run, run_in_pipeline

from stillroom.errors import StillroomUserError
from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.steps.tasks import APIGenExecutionChecker, APIGenGenerator, APIGenSemanticChecker
from stillroom.steps.tasks.apigen.utils import (
    PrepareExamples,
    execute_from_response,
    execute_in_sandbox,
    load_module_from_path,
    remove_fences,
    remove_json_fences,
)

CALLS = [{"name": "add", "arguments": {"a": 2, "b": "3"}}]  # "3": a literal in a string
ROW = {
    "examples": "## Query:\nAdd 1 and 1\n## Answers:\n[]",
    "func_name": "add",
    "func_desc": "Adds.",
}


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "tools.py"
    path.write_text(
        textwrap.dedent(
            """
            import os, socket, sys

            def add(a, b):
                return a + b

            def connect(port):
                socket.create_connection(("127.0.0.1", port), timeout=1)
                return "connected"

            def spin():
                while True:
                    pass

            def shell():
                return os.system("true")

            def secret():
                return os.environ.get("STILLROOM_TEST_SECRET")

            def loaded_in():
                return os.getpid()
            """
        )
    )
    return path


def test_generator_in_a_pipeline_keeps_a_malformed_row() -> None:
    reply = f"```\n{json.dumps([{'query': 'What is 2 + 3?', 'answers': CALLS}])}\n```"
    rows = run_in_pipeline(
        lambda: APIGenGenerator(llm=AsyncMockLLM(responses=[reply, "Sure! Here you go."])),
        [ROW, {**ROW, "func_name": "other"}],
    )
    by_name = {row["func_name"]: row for row in rows}
    assert by_name["add"]["query"] == "What is 2 + 3?"
    assert json.loads(by_name["add"]["answers"]) == CALLS
    assert by_name["other"]["query"] is None and by_name["other"]["answers"] is None
    assert "no JSON" in by_name["other"]["stillroom_metadata"]["error_api_gen_generator_0"]


def test_generator_prompt_number_tools_and_structured_output() -> None:
    reply = json.dumps({"pairs": [{"query": "q", "answers": CALLS}]})
    task = APIGenGenerator(
        llm=MockLLM(responses=reply), number={2: 1.0}, use_default_structured_output=True
    )
    (row,) = run(task, [{**ROW, "tools": '{"name": "add"}'}])
    call = task.llm.calls[0]
    system, user = call.messages
    assert "label data" in system["content"]
    assert "Write 2 different query and answer pairs for the function `add`" in user["content"]
    assert "several requests answered in parallel" in user["content"]
    assert (
        'Its tool definition (keep the parameters in this order):\n{"name": "add"}'
        in user["content"]
    )
    assert "xLAM" not in user["content"]  # the schema replaces the layout instructions
    assert call.structured_output["schema"]["properties"]["pairs"]["type"] == "array"
    assert row["query"] == "q"
    plain = APIGenGenerator(llm=MockLLM(responses=reply), use_tools=False)
    run(plain, [{**ROW, "tools": "TOOLS"}])
    assert "TOOLS" not in plain.llm.calls[0].prompt and "xLAM" in plain.llm.calls[0].prompt


def test_a_function_loaded_by_the_caller_runs_in_this_process(library: Path) -> None:
    module = load_module_from_path(library)
    assert execute_from_response(module.loaded_in, {}) == {
        "keep": True,
        "execution_result": str(os.getpid()),
    }
    assert execute_from_response(module.add, {"x": "2", "y": 3})["execution_result"] == "5"
    failed = execute_from_response(module.add, {"a": 1})
    assert failed == {
        "keep": False,
        "execution_result": "add() missing 1 required positional argument: 'b'",
    }
    assert execute_from_response(None, {})["keep"] is False


def test_execution_checker_runs_calls_in_a_child(library: Path) -> None:
    checker = APIGenExecutionChecker(libpath=str(library))
    checker.load()
    answers = [
        json.dumps(CALLS),
        json.dumps(
            [
                {"name": "add", "arguments": {"a": 1}},
                {"name": "add", "arguments": {"x": "1", "y": "2"}},  # renamed: by position
            ]
        ),
        json.dumps([{"name": "missing", "arguments": {}}, None]),
        json.dumps([{"name": "loaded_in", "arguments": {}}]),
        "not json",
        None,
    ]
    rows = next(checker.process([{"answers": a} for a in answers]))
    assert rows[0]["keep_row_after_execution_check"] is True
    assert rows[0]["execution_result"] == ["5"]
    assert rows[1]["keep_row_after_execution_check"] is False
    assert "missing 1 required positional argument: 'b'" in rows[1]["execution_result"][0]
    assert rows[1]["execution_result"][1] == "3"
    assert rows[2]["execution_result"] == [
        "Function 'missing' not found.",
        "Nothing was generated for this answer.",
    ]
    assert int(rows[3]["execution_result"][0]) != os.getpid()  # never in this process
    assert "not valid JSON" in rows[4]["execution_result"][0]
    assert rows[5]["execution_result"] == ["No answers were provided."]
    keep = [row["keep_row_after_execution_check"] for row in rows]
    assert keep == [True, False, False, True, False, False]


def test_the_child_has_no_network_no_shell_no_secrets_and_a_timeout(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted: list[object] = []
    waiter = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    waiter.start()
    try:
        result = execute_in_sandbox(str(library), "connect", {"port": port})
    finally:
        server.close()
    assert result["keep"] is False and "blocked" in result["execution_result"]
    assert accepted == []
    shell = execute_in_sandbox(str(library), "shell", {}, check_is_dangerous=False)
    assert shell["keep"] is False and "os.system" in shell["execution_result"]
    refused = execute_in_sandbox(str(library), "shell", {})
    assert "looks dangerous" in refused["execution_result"]
    monkeypatch.setenv("STILLROOM_TEST_SECRET", "sk-do-not-leak")
    assert execute_in_sandbox(str(library), "secret", {})["execution_result"] == "None"
    started = time.monotonic()
    spun = execute_in_sandbox(str(library), "spin", {}, timeout=1)
    assert spun == {"keep": False, "execution_result": "timed out after 1 s"}
    assert time.monotonic() - started < 10


def test_execution_checker_with_a_folder_and_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "double.py").write_text("def double(x):\n    return 2 * x\n")
    checker = APIGenExecutionChecker(libpath=str(tmp_path))
    checker.load()
    (row,) = next(checker.process([{"answers": '[{"name": "double", "arguments": {"x": 4}}]'}]))
    assert row["execution_result"] == ["8"]
    with pytest.raises(StillroomUserError, match=r"libpath .* does not exist"):
        APIGenExecutionChecker(libpath=str(tmp_path / "nope.py")).load()


def test_semantic_checker_in_a_pipeline() -> None:
    base = {"func_desc": "Adds.", "answers": json.dumps(CALLS), "execution_result": ["5"]}
    replies = ['{"thought": "", "passes": "yes"}', '{"thought": "hm", "passes": "maybe"}']
    rows = run_in_pipeline(
        lambda: APIGenSemanticChecker(llm=AsyncMockLLM(responses=replies)),
        [
            {**base, "query": "2 + 3?", "keep_row_after_execution_check": True},
            {**base, "query": "Unclear?", "keep_row_after_execution_check": True},
            {**base, "query": "Failed?", "keep_row_after_execution_check": False},
        ],
    )
    by_query = {row["query"]: row for row in rows}
    assert by_query["2 + 3?"]["keep_row_after_semantic_check"] is True
    unclear = by_query["Unclear?"]
    assert unclear["keep_row_after_semantic_check"] is None
    assert '"yes" or "no"' in unclear["stillroom_metadata"]["error_api_gen_semantic_checker_0"]
    failed = by_query["Failed?"]
    assert failed["keep_row_after_semantic_check"] is None
    assert (
        "failed the execution check"
        in (failed["stillroom_metadata"]["error_api_gen_semantic_checker_0"])
    )


def test_semantic_checker_prompt() -> None:
    task = APIGenSemanticChecker(llm=MockLLM(responses='{"thought": "wrong", "passes": "no"}'))
    (row,) = run(
        task,
        [
            {
                "func_desc": "Adds two numbers.",
                "query": "2 + 3?",
                "answers": "[CALL]",
                "execution_result": ["5"],
                "keep_row_after_execution_check": True,
            }
        ],
    )
    prompt = task.llm.calls[0].prompt
    assert "## User query\n2 + 3?" in prompt and "## Generated function calls\n[CALL]" in prompt
    assert (row["keep_row_after_semantic_check"], row["thought"]) == (False, "wrong")
    assert meta(row, task, "error") is None


def test_prepare_examples_and_fences() -> None:
    step = PrepareExamples()
    step.load()
    (row,) = next(step.process([{"query": ["q1", "q2"], "answers": ["[a]", "[b]"]}]))
    assert row["examples"] == "## Query:\nq1\n## Answers:\n[a]\n\n## Query:\nq2\n## Answers:\n[b]"
    assert (
        remove_fences("```\n[1]\n```") == "[1]" and remove_json_fences("```json\n{}\n```") == "{}"
    )
