"""`MixtureOfAgentsLLM`: several LLMs propose replies, one more writes the final reply.

Mixture-of-Agents (Wang et al. 2024, arXiv:2406.04692): in each round every proposer
answers the conversation, seeing the previous round's replies as references in its system
prompt; the aggregator then answers with the last round's replies as references. It is an
LLM made of LLMs, like `FallbackLLM`: each keeps its own settings, concurrency limit and
retries, and a request that fails for good in any of them fails this one, naming it.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import Field, PositiveInt

from stillroom.errors import LLMRequestError
from stillroom.models.llms.base import LLM, AsyncLLM, ask
from stillroom.models.llms.structured import split_input
from stillroom.typing import ChatType, FormattedInput, GenerateOutput

MOA_SYSTEM_PROMPT = (
    "Below are replies that other assistants wrote for the latest request in this "
    "conversation. Some may be wrong, partial or biased. Weigh them critically, keep what is "
    "accurate and useful, and write one reply of your own that is better than each of them: "
    "coherent, correct and complete. Do not mention or list the other replies. Replies:"
)
"""The system prompt that hands a round's replies to the next round and to the aggregator."""


class MixtureOfAgentsLLM(AsyncLLM):
    """`proposers_llms` answer for `rounds` rounds, then `aggregator_llm` writes the reply.

    `model_name` is "moa-AGGREGATOR-PROPOSER1-PROPOSER2-..." (as in distilabel). The
    statistics are the aggregator's. `generation_kwargs` may hold `aggregator_llm` (a dict of
    the aggregator's settings) and `proposers_llms` (a list of dicts, one per proposer), on
    top of each LLM's own `generation_kwargs`.
    """

    aggregator_llm: LLM = Field(description="The LLM that writes the final reply.")
    proposers_llms: list[AsyncLLM] = Field(
        default_factory=list, description="The LLMs whose replies the aggregator weighs."
    )
    rounds: PositiveInt = Field(
        default=1, description="Rounds of proposals, each seeing the previous round's replies."
    )

    _limits_concurrency: ClassVar[bool] = False  # each LLM keeps its own limit

    @property
    def model_name(self) -> str:
        proposers = "-".join(llm.model_name for llm in self.proposers_llms)
        return f"moa-{self.aggregator_llm.model_name}-{proposers}"

    def load(self) -> None:
        super().load()
        for llm in [*self.proposers_llms, self.aggregator_llm]:
            llm.load()

    def unload(self) -> None:
        for llm in [*self.proposers_llms, self.aggregator_llm]:
            llm.unload()
        super().unload()

    async def agenerate(  # type: ignore[override]  # named settings, as every backend's
        self,
        input: FormattedInput,
        num_generations: int = 1,
        aggregator_llm: dict[str, Any] | None = None,
        proposers_llms: list[dict[str, Any]] | None = None,
    ) -> GenerateOutput:
        """The aggregator's `num_generations` replies to `input`, after the proposers' rounds.

        A structured output the input asks for applies to the aggregator's reply only.
        """
        messages, structured = split_input(input)
        settings = proposers_llms or [{}] * len(self.proposers_llms)
        if len(settings) != len(self.proposers_llms):
            raise ValueError(
                f"{self._label()}: proposers_llms settings hold {len(settings)} dicts for "
                f"{len(self.proposers_llms)} proposers; give one dict per proposer."
            )
        references: list[str] = []
        for _ in range(self.rounds):
            prompt = with_references(messages, references)
            results = await asyncio.gather(
                *(
                    ask(llm, prompt, 1, kwargs)
                    for llm, kwargs in zip(self.proposers_llms, settings, strict=True)
                )
            )
            references = []
            for llm, proposal in zip(self.proposers_llms, results, strict=True):
                if isinstance(proposal, BaseException):
                    raise self._failed("proposer", llm, proposal)
                references += [text for text in proposal["generations"] if text is not None]
        conversation = with_references(messages, references)
        final: FormattedInput = conversation if structured is None else (conversation, structured)
        result = await ask(self.aggregator_llm, final, num_generations, aggregator_llm or {})
        if isinstance(result, BaseException):
            raise self._failed("aggregator", self.aggregator_llm, result)
        return result

    def _failed(self, role: str, llm: LLM, error: BaseException) -> LLMRequestError:
        """The error of this request when one of its LLMs failed for good, naming it."""
        failure = LLMRequestError(
            f"{self._label()}: the {role} {llm._label()} failed: {type(error).__name__}: {error}"
        )
        failure.__cause__ = error
        return failure


def with_references(messages: ChatType, references: list[str]) -> ChatType:
    """`messages` with `references` numbered in a system prompt (before the conversation's
    own system prompt, if it has one); `messages` itself is left unchanged."""
    if not references:
        return messages
    listed = "".join(f"\n{i}. {text}" for i, text in enumerate(references, start=1))
    prompt = MOA_SYSTEM_PROMPT + listed
    if messages and messages[0]["role"] == "system":
        first = {**messages[0], "content": f"{prompt}\n\n{messages[0]['content']}"}
        return [first, *messages[1:]]  # type: ignore[list-item]
    return [{"role": "system", "content": prompt}, *messages]
