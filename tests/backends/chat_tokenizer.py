"""A tiny tokenizer with a ChatML chat template, trained in the test session (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def chatml_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The folder of a word-level tokenizer with a ChatML template (a `tokenizer_id`)."""
    pytest.importorskip("transformers", reason="needs the [hf-transformers] extra")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]", "<|im_start|>", "<|im_end|>"])
    words.train_from_iterator(["say hello world", "be brief and kind"], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words, unk_token="[UNK]", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = CHATML
    folder: Path = tmp_path_factory.mktemp("chatml-tokenizer")
    tokenizer.save_pretrained(folder)
    return str(folder)
