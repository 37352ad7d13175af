"""Constrained decoding for `TransformersLLM` with llguidance (in the [transformers] extra).

`GrammarConstraint` is a transformers logits processor: each sequence of a `model.generate`
batch has its own llguidance matcher, built from that row's JSON schema (rows without one run
free). Before each step the matcher takes the token the row chose last, and the row's logits
are masked to the tokens the grammar allows next, an end token only once the JSON is complete
(laid out as `json.dumps` writes it, see `JSON_LAYOUT`).
Without llguidance, or for a schema it cannot compile, nothing is constrained and the replies
are only validated afterwards (logged once per LLM and schema).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillroom.models.llms.structured import StructuredSpec

logger = logging.getLogger("stillroom.llms")

JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
"""How the enforced JSON is laid out: as `json.dumps` writes it, so a reply cannot wander in
whitespace (a schema's own "x-guidance" options override this)."""


class GrammarConstraint:
    """Masks each row's logits to what its JSON schema's grammar allows next (a transformers
    `LogitsProcessor`, called as `processor(input_ids, scores)`)."""

    def __init__(self, matchers: list[Any | None]) -> None:
        self._matchers = matchers  # one llguidance LLMatcher per row, None: unconstrained
        self._bitmask: Any = None  # made on the first step, reused by the next ones

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch
        from llguidance.torch import allocate_token_bitmask, fill_next_token_bitmask

        rows = [(row, m) for row, m in enumerate(self._matchers) if m is not None]
        vocab = scores.shape[-1]
        if self._bitmask is None:  # the first step: nothing generated yet
            self._bitmask = allocate_token_bitmask(len(self._matchers), vocab)
        else:
            for row, matcher in rows:
                if not matcher.is_stopped():
                    matcher.consume_token(int(input_ids[row, -1]))
        bitmask = self._bitmask.fill_(-1)  # all bits set: any token
        for row, matcher in rows:
            if not matcher.is_error():  # a failed row runs free; validation reports it
                fill_next_token_bitmask(matcher, bitmask, row)
        bits = torch.arange(32, dtype=torch.int32)
        allowed = ((bitmask.unsqueeze(-1) >> bits) & 1).reshape(len(self._matchers), -1)
        allowed = allowed[:, :vocab].to(scores.device).bool()
        return scores.masked_fill(~allowed, float("-inf"))


class GrammarCompiler:
    """Builds `GrammarConstraint`s for one loaded model and tokenizer; the llguidance tokenizer
    (about a second to build) is made once, on first use."""

    def __init__(self, tokenizer: Any, vocab_size: int | None, stop_ids: set[int], label: str):
        self._hf_tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._stop_ids = sorted(stop_ids)
        self._label = label
        self._ll_tokenizer: Any = None
        self._unusable = False  # llguidance could not read the tokenizer (warned once)
        self._failed: set[str] = set()  # schemas llguidance could not compile, warned once

    def constraint(self, specs: list[StructuredSpec | None]) -> GrammarConstraint | None:
        """A processor for a batch whose rows ask for `specs`; None when no row is
        constrained (no schema, llguidance absent or unable to read the tokenizer, or no
        schema it compiles)."""
        if self._unusable or all(spec is None for spec in specs):
            return None
        try:
            import llguidance
            import llguidance.hf
        except ImportError:
            logger.debug("%s: llguidance is not installed; replies are only validated", self._label)
            return None
        if self._ll_tokenizer is None:
            try:  # a slow (Python) tokenizer, or one llguidance cannot convert
                self._ll_tokenizer = llguidance.hf.from_tokenizer(
                    self._hf_tokenizer, n_vocab=self._vocab_size, eos_token=self._stop_ids
                )
            except ValueError as exc:
                self._unusable = True
                logger.warning(
                    "%s: llguidance cannot use this tokenizer (%s); structured outputs are "
                    "validated and re-asked instead of enforced.",
                    self._label,
                    exc,
                )
                return None
        matchers = [self._matcher(llguidance, spec) if spec else None for spec in specs]
        return GrammarConstraint(matchers) if any(m is not None for m in matchers) else None

    def _matcher(self, llguidance: Any, spec: StructuredSpec) -> Any | None:
        key = (
            f"regex:{spec.regex}"
            if spec.regex is not None
            else json.dumps(spec.schema, sort_keys=True)
        )
        if key in self._failed:
            return None
        try:
            if spec.regex is not None:
                grammar = llguidance.LLMatcher.grammar_from_regex(spec.regex)
            else:
                grammar = llguidance.LLMatcher.grammar_from_json_schema(spec.schema, JSON_LAYOUT)
            matcher = llguidance.LLMatcher(self._ll_tokenizer, grammar, log_level=0)
        except ValueError as exc:
            error = str(exc)
        else:
            if not matcher.is_error():
                return matcher
            error = matcher.get_error()
        self._failed.add(key)
        logger.warning(
            "%s: llguidance cannot enforce the structured output %r (%s); its replies are "
            "validated and re-asked instead.",
            self._label,
            spec.regex if spec.regex is not None else spec.name,
            error,
        )
        return None
