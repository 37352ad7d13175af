"""MagpieChatTemplateMixin: aliases, validation, where the pre-query goes; mock LLM support."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.models.mixins.magpie import MAGPIE_PRE_QUERY_TEMPLATES, MagpieChatTemplateMixin


def test_aliases_resolve_and_custom_templates_are_kept() -> None:
    assert MockLLM(magpie_pre_query_template="llama3").magpie_pre_query_template == (
        "<|start_header_id|>user<|end_header_id|>\n\n"
    )
    assert MockLLM(magpie_pre_query_template="qwen2").magpie_pre_query_template == (
        "<|im_start|>user\n"
    )
    assert MAGPIE_PRE_QUERY_TEMPLATES["chatml"] == MAGPIE_PRE_QUERY_TEMPLATES["qwen2"]
    assert MockLLM(magpie_pre_query_template="<user>").magpie_pre_query_template == "<user>"


def test_enabling_without_a_template_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs magpie_pre_query_template"):
        MockLLM(use_magpie_template=True)
    llm = MockLLM()
    with pytest.raises(ValidationError, match="needs magpie_pre_query_template"):
        llm.use_magpie_template = True


def test_pre_query_is_appended_unless_the_conversation_ends_with_the_user() -> None:
    llm = MockLLM(magpie_pre_query_template="chatml", use_magpie_template=True)
    system = [{"role": "system", "content": "You teach maths."}]
    assert llm.magpie_pre_query_for([]) == "<|im_start|>user\n"
    assert llm.magpie_pre_query_for(system) == "<|im_start|>user\n"
    assert llm.magpie_pre_query_for([*system, {"role": "user", "content": "hi"}]) is None
    assert llm.apply_magpie_pre_query_template("<rendered>", system) == (
        "<rendered><|im_start|>user\n"
    )
    llm.use_magpie_template = False
    assert llm.apply_magpie_pre_query_template("<rendered>", system) == "<rendered>"


@pytest.mark.parametrize("cls", [MockLLM, AsyncMockLLM])
def test_mock_llms_record_the_pre_query_of_each_call(cls: type) -> None:
    llm = cls(responses="x", magpie_pre_query_template="llama3", use_magpie_template=True)
    assert isinstance(llm, MagpieChatTemplateMixin)
    llm.load()
    llm.generate([[], [{"role": "user", "content": "q"}]])
    assert [call.magpie_pre_query for call in llm.calls] == [
        MAGPIE_PRE_QUERY_TEMPLATES["llama3"],
        None,
    ]
    llm.unload()
