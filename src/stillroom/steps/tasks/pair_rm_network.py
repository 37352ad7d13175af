"""PairRM's network on transformers: a DeBERTa-v2 encoder and a pairwise comparison head.

Imported only by `PairRM.load()` (it imports torch and transformers). The layout (the
`pretrained_model` encoder, the `head_layer` MLP over the source and candidate encodings,
config keys `source_prefix_id`, `cand1_prefix_id`, `cand2_prefix_id`, `n_tasks`,
`drop_out`) is the one of the published `llm-blender/PairRM-hf` checkpoint, so its weights
load as they are.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.models.deberta_v2.modeling_deberta_v2 import (
    DebertaV2Model,
    DebertaV2PreTrainedModel,
)

SOURCE_PREFIX = "<|source|>"
CANDIDATE1_PREFIX = "<|candidate1|>"
CANDIDATE2_PREFIX = "<|candidate2|>"


class PairRMNetwork(DebertaV2PreTrainedModel):  # type: ignore[no-untyped-call]
    """Scores "is candidate 1 better than candidate 2 for this source?" as one logit.

    The encoder reads `<|source|> source <|candidate1|> c1 <|candidate2|> c2`; the head
    scores the (source, c1) and (source, c2) encodings taken at the prefix tokens; the
    logit is their difference (positive: c1 is better).
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.pretrained_model = DebertaV2Model(config)
        hidden = config.hidden_size
        self.head_layer = nn.Sequential(
            nn.Dropout(config.drop_out),
            nn.Linear(2 * hidden, hidden),
            nn.Tanh(),
            nn.Dropout(config.drop_out),
            nn.Linear(hidden, config.n_tasks),
        )
        self.post_init()  # type: ignore[no-untyped-call]

    def _at(self, encodings: torch.Tensor, input_ids: torch.Tensor, token_id: int) -> torch.Tensor:
        rows, columns = torch.where(input_ids == token_id)
        if rows.numel() != input_ids.shape[0]:
            raise ValueError(f"each sequence must hold token id {token_id} exactly once")
        return encodings[rows, columns, :]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One logit per sequence of the batch."""
        hidden = self.pretrained_model(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state
        source = self._at(hidden, input_ids, self.config.source_prefix_id)
        first = self._at(hidden, input_ids, self.config.cand1_prefix_id)
        second = self._at(hidden, input_ids, self.config.cand2_prefix_id)
        left = self.head_layer(torch.cat([source, first], dim=-1))
        right = self.head_layer(torch.cat([source, second], dim=-1))
        logits: torch.Tensor = (left - right).mean(dim=-1)
        return logits
