"""Tiny models the tests build themselves (nothing is downloaded): a byte-level BPE tokenizer
trained here with `tokenizers`, a randomly initialised 2-layer Llama, a "scripted" Llama whose
weights make greedy decoding write one known text, and a tiny sentence-transformers model.

The scripted model: both layers' output projections are zero, so the last hidden state is the
token's embedding; embeddings are one-hot over "which step of the script this token is", and
the LM head maps step k to the script's token k+1 (any other token to the first script token,
the last one to EOS). Greedy decoding therefore writes the script after any prompt: a real
forward pass and real `generate`, with a known result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SCRIPT = ['{"name": ', '"Ada"', ', "age": ', "36", "}"]
"""The pieces the scripted model writes, in order: `{"name": "Ada", "age": 36}`."""
SCRIPTED_TEXT = "".join(SCRIPT)
"""What the scripted model writes, greedy, whatever the prompt."""
CORPUS = [
    "Write a short story about a cat who sat on the mat.",
    "Hello world! What is the capital of France? Paris.",
    '{"name": "Ada", "age": 36} is a JSON object.',
]
HIDDEN = 32


def build_tokenizer(folder: Path) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator(CORPUS * 10, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    tokenizer.add_tokens(SCRIPT)
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_causal_lm(folder: Path, scripted: bool) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(folder)
    vocab = len(tokenizer)  # type: ignore[arg-type]
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id,  # type: ignore[attr-defined]
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if scripted:
        ids = [tokenizer.convert_tokens_to_ids(piece) for piece in SCRIPT]  # type: ignore[attr-defined]
        assert len(set(ids)) == len(ids) < HIDDEN
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            embed = torch.zeros(vocab, HIDDEN)
            embed[:, 0] = 1.0
            head = torch.zeros(vocab, HIDDEN)
            head[ids[0], 0] = 10.0
            for step, token in enumerate(ids):
                embed[token] = 0.0
                embed[token, step + 1] = 1.0
                following = ids[step + 1] if step + 1 < len(ids) else tokenizer.eos_token_id  # type: ignore[attr-defined]
                head[following, step + 1] = 10.0
            model.model.embed_tokens.weight.copy_(embed)
            model.lm_head.weight.copy_(head)
    model.save_pretrained(folder)
    return folder


def build_sentence_transformer(folder: Path) -> Path:
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    tokenizer = build_tokenizer(folder / "bert")
    config = BertConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
    )
    BertModel(config).save_pretrained(folder / "bert")
    encoder = models.Transformer(str(folder / "bert"), max_seq_length=64)
    pooling = models.Pooling(encoder.get_word_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[encoder, pooling], device="cpu").save(str(folder / "st"))
    return folder / "st"


def build_reward_model(folder: Path) -> Path:
    """A randomly initialised 2-layer Llama with a one-output classification head."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tokenizer = build_tokenizer(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
    )
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    return folder


def check_magpie_turn(llm: Any, **settings: Any) -> None:
    """A loaded local LLM on the scripted model, with the ChatML Magpie template: it renders
    a system turn up to an open user turn, and writes the script from that and from the
    raw prompt alone (`settings`: the backend's greedy generation settings)."""
    system = [{"role": "system", "content": "You are kind."}]
    assert (
        llm.prepare_input(system)
        == "<|im_start|>system\nYou are kind.<|im_end|>\n<|im_start|>user\n"
    )
    (output,) = llm.generate([system], **settings)
    assert output["generations"] == [SCRIPTED_TEXT]
    (raw,) = llm.generate_results_from_prompts(["<|im_start|>user\n"], **settings)
    assert not isinstance(raw, BaseException) and raw["generations"] == [SCRIPTED_TEXT]
