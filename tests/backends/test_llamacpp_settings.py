"""`LlamaCppLLM`'s `seed` and `tokenizer_id`, on the embedded model."""

from __future__ import annotations

import pytest
from chat_tokenizer import chatml_tokenizer  # noqa: F401 (a fixture)

from stillroom.models.llms.llamacpp import LlamaCppLLM

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(120)]

HELLO = [{"role": "user", "content": "say hello"}]


def test_the_llm_s_seed_makes_sampled_replies_reproducible(local_llm: LlamaCppLLM) -> None:
    settings = {"temperature": 1.0, "max_new_tokens": 8}
    seeded = LlamaCppLLM(n_threads=1, n_ctx=1024, seed=1234)
    seeded.load()
    try:
        assert seeded._model is local_llm._model  # the seed is per request: one model
        first = seeded.generate_results([HELLO], num_generations=2, **settings)[0]
        again = seeded.generate_results([HELLO], num_generations=2, **settings)[0]
        other = seeded.generate_results([HELLO], num_generations=2, seed=99, **settings)[0]
    finally:
        seeded.unload()
    for output in (first, again, other):
        assert not isinstance(output, BaseException), output
    assert first["generations"] == again["generations"]  # type: ignore[index]
    assert first["generations"] != other["generations"]  # type: ignore[index]


@pytest.mark.hf_transformers
def test_tokenizer_id_renders_prompts_with_that_tokenizer_s_template(
    local_llm: LlamaCppLLM,
    chatml_tokenizer: str,  # noqa: F811 (the fixture imported above)
) -> None:
    llm = LlamaCppLLM(n_threads=1, n_ctx=1024, tokenizer_id=chatml_tokenizer)
    llm.load()
    try:
        prompt = llm.apply_chat_template(HELLO)
    finally:
        llm.unload()
    # the test tokenizer's template has no default system prompt, unlike the GGUF's
    assert prompt == "<|im_start|>user\nsay hello<|im_end|>\n<|im_start|>assistant\n"
    assert local_llm.apply_chat_template(HELLO) != prompt


def test_a_tokenizer_without_the_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    llm = LlamaCppLLM(n_threads=1, n_ctx=1024, tokenizer_id="some/tokenizer")
    with pytest.raises(Exception, match=r"hf-transformers"):
        llm.load()
    assert llm._shared is None or llm.unload() is None
