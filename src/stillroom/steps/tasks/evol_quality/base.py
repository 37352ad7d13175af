"""`EvolQuality`: improve each row's response through several rounds of rewriting."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, PositiveInt

from stillroom.steps.tasks import parsing
from stillroom.steps.tasks.evol_instruct import mutations
from stillroom.steps.tasks.multi_round import Exchange, MultiRoundTask, Transcript
from stillroom.steps.typing import Row, StepColumns


class EvolQuality(mutations.EvolMutationsMixin, MultiRoundTask):
    """Rewrite each `response` to its `instruction` `num_evolutions` times, each round with a
    random mutation (more helpful, more relevant, deeper, more creative, more detailed).

    Deita's quality evolution: the same instruction gets better and better answers, which a
    `QualityScorer` can then rank. Each round rewrites the previous round's response;
    mutations are picked reproducibly for a given `seed` and row. A failed or empty reply
    at any round keeps the row with None outputs.

    Columns: inputs = `instruction`, `response`; outputs = `evolved_response` (the last
    round), or `evolved_responses` (every round; with `include_original_response` the
    original first) when `store_evolutions`; `model_name`.
    """

    num_evolutions: PositiveInt = Field(description="Rounds of rewriting per response.")
    store_evolutions: bool = Field(
        default=False, description="Keep every round's response, not just the last."
    )
    include_original_response: bool = Field(
        default=False,
        description="With store_evolutions, put the original response first in the list.",
    )
    mutation_templates: dict[str, str] = Field(
        default_factory=mutations.evol_quality_templates,
        description="Mutation name -> Jinja2 prompt reading {{ instruction }} and {{ response }}.",
    )

    _template_variables: ClassVar[tuple[str, ...]] = ("instruction", "response")

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "response"]

    @property
    def outputs(self) -> StepColumns:
        column = "evolved_responses" if self.store_evolutions else "evolved_response"
        return [column, "model_name"]

    def _rounds(self, row: Row, transcript: Transcript) -> Exchange[dict[str, Any]]:
        instruction = self._text(row, "instruction")
        original = self._text(row, "response")
        rng = mutations.rng_for(self.seed, instruction, original)
        names = list(self.mutation_templates)
        response = original
        evolved: list[str] = []
        for _ in range(self.num_evolutions):
            values = {"instruction": instruction, "response": response}
            request = self._mutation_request(rng.choice(names), values)
            response = yield from transcript.ask(request, parsing.clean_text)
            evolved.append(response)
        if not self.store_evolutions:
            return {"evolved_response": evolved[-1]}
        if self.include_original_response:
            evolved.insert(0, original)
        return {"evolved_responses": evolved}
