"""Type checkers see the real backend classes, though they are imported lazily at run time.

Checked by mypy, never run (only this file's errors are reported):

    MYPYPATH=src mypy --strict --warn-unused-ignores --follow-imports=silent \
        tests/typing/check_backends.py

A backend seen as `Any` would fail each `assert_type` and leave each
`type: ignore` unused, which `--warn-unused-ignores` reports.
"""

from __future__ import annotations

from typing_extensions import assert_type

import stillroom.llms
import stillroom.models
from stillroom.llms import AnthropicLLM as AliasAnthropicLLM
from stillroom.models import AnthropicLLM, LlamaCppLLM, OpenAILLM
from stillroom.models.llms import OpenAILLM as ModuleOpenAILLM
from stillroom.models.llms.anthropic import AnthropicLLM as RealAnthropicLLM
from stillroom.models.llms.llamacpp import LlamaCppLLM as RealLlamaCppLLM
from stillroom.models.llms.openai import OpenAILLM as RealOpenAILLM

assert_type(OpenAILLM, type[RealOpenAILLM])
assert_type(ModuleOpenAILLM, type[RealOpenAILLM])
assert_type(AnthropicLLM, type[RealAnthropicLLM])
assert_type(AliasAnthropicLLM, type[RealAnthropicLLM])
assert_type(LlamaCppLLM, type[RealLlamaCppLLM])
assert_type(stillroom.models.OpenAILLM, type[RealOpenAILLM])
assert_type(stillroom.llms.LlamaCppLLM, type[RealLlamaCppLLM])

llm = OpenAILLM(model="gpt-4o-mini", timeout=30.0)
assert_type(llm, RealOpenAILLM)
assert_type(llm.model, str)

# Each line below is an error only for a checker that knows the class (names checked even by
# the pydantic plugin's untyped constructors; argument types by the methods).
OpenAILLM(modle="gpt-4o-mini")  # type: ignore[call-arg]
AnthropicLLM(model="claude", timeout_s=30)  # type: ignore[call-arg]
llm.generate("not a list of conversations")  # type: ignore[arg-type]
LlamaCppLLM().apply_chat_template("not a list of messages")  # type: ignore[arg-type]
