"""Magpie prompts on LlamaCppLLM keep the chat template's default system prompt."""

from __future__ import annotations

from typing import Any

import pytest

from stillroom.errors import MissingExtraError
from stillroom.models.llms.llamacpp import LlamaCppLLM, embedded_model_path
from stillroom.typing import ChatType

CHATML = "<|im_start|>user\n"
SMOL_DEFAULT = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM"


def _default_system_template(self: Any, messages: ChatType, add_generation_prompt: bool) -> str:
    """SmolLM2's template shape: the default system turn is written inside the message loop."""
    out = ""
    for index, message in enumerate(messages):
        if index == 0 and message["role"] != "system":
            out += "<|im_start|>system\nDEFAULT<|im_end|>\n"
        out += f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>\n"
    return out


def _plain_template(self: Any, messages: ChatType, add_generation_prompt: bool) -> str:
    return "".join(f"[{m['role']}] {m['content']}\n" for m in messages)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], "<|im_start|>system\nDEFAULT<|im_end|>\n" + CHATML),
        (
            [{"role": "system", "content": "Teach."}],
            "<|im_start|>system\nTeach.<|im_end|>\n" + CHATML,
        ),
        (
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
            "<|im_start|>system\nDEFAULT<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
            "<|im_start|>assistant\nyo<|im_end|>\n" + CHATML,
        ),
    ],
)
def test_the_default_system_prompt_is_rendered(
    monkeypatch: pytest.MonkeyPatch, messages: ChatType, expected: str
) -> None:
    monkeypatch.setattr(LlamaCppLLM, "apply_chat_template", _default_system_template)
    assert LlamaCppLLM().magpie_prompt(messages, CHATML) == expected


def test_a_template_without_the_pre_query_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LlamaCppLLM, "apply_chat_template", _plain_template)
    messages = [{"role": "system", "content": "S"}]
    assert LlamaCppLLM().magpie_prompt(messages, CHATML) == "[system] S\n" + CHATML


@pytest.mark.local_model
@pytest.mark.timeout(120)
def test_smollm2_magpie_prompt_opens_with_its_system_turn() -> None:
    pytest.importorskip("llama_cpp", reason="needs the [local] extra (llama-cpp-python)")
    try:
        embedded_model_path()
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    llm = LlamaCppLLM(n_threads=1, n_ctx=1024, magpie_pre_query_template="chatml")
    llm.load()
    assert llm.apply_chat_template([], add_generation_prompt=False) == ""  # the bug's cause
    prompt = llm.magpie_prompt([], CHATML)
    assert prompt.startswith(SMOL_DEFAULT)
    assert prompt.endswith("<|im_end|>\n" + CHATML)
    assert prompt.count("<|im_start|>") == 2
