"""`EvolInstruct`: evolve each row's instruction through several rounds of rewriting."""

from __future__ import annotations

from functools import partial
from typing import Any

from pydantic import Field, PositiveInt

from stillroom.steps.tasks import parsing
from stillroom.steps.tasks.evol_instruct import mutations
from stillroom.steps.tasks.multi_round import Exchange, MultiRoundTask, Transcript
from stillroom.steps.typing import Row, StepColumns
from stillroom.typing import ChatType

clean_instruction = partial(
    parsing.clean_text,
    labels=("New instruction:", "Rewritten instruction:", "Instruction:"),
)
"""Reads a rewritten instruction out of a reply (labels the model may add are dropped)."""


class EvolInstruct(mutations.EvolMutationsMixin, MultiRoundTask):
    """Rewrite each `instruction` `num_evolutions` times, each round with a random mutation.

    Evol-Instruct's idea: an instruction becomes harder by successive rewrites, each adding
    a constraint, deepening, concretising, asking for more reasoning steps, or moving to a
    rarer topic ("breadth"). Each round rewrites the previous round's result. Mutations are
    picked at random from `mutation_templates`, reproducibly for a given `seed` and row. With
    `generate_answers` the LLM then answers the evolved instruction(s). A failed or empty
    reply at any round keeps the row with None outputs.

    Columns: inputs = `instruction`; outputs = `evolved_instruction` (the last round), or
    `evolved_instructions` (every round; with `include_original_instruction` the original
    first) when `store_evolutions`; with `generate_answers` also `answer` / `answers`;
    `model_name`.
    """

    num_evolutions: PositiveInt = Field(description="Rounds of rewriting per instruction.")
    store_evolutions: bool = Field(
        default=False, description="Keep every round's instruction, not just the last."
    )
    generate_answers: bool = Field(
        default=False, description="Also ask the LLM to answer the evolved instruction(s)."
    )
    include_original_instruction: bool = Field(
        default=False,
        description="With store_evolutions, put the original instruction first in the list.",
    )
    mutation_templates: dict[str, str] = Field(
        default_factory=mutations.evol_instruct_templates,
        description="Mutation name -> Jinja2 prompt reading {{ instruction }}.",
    )

    @property
    def inputs(self) -> StepColumns:
        return ["instruction"]

    @property
    def outputs(self) -> StepColumns:
        columns = ["evolved_instructions" if self.store_evolutions else "evolved_instruction"]
        if self.generate_answers:
            columns.append("answers" if self.store_evolutions else "answer")
        return [*columns, "model_name"]

    def _rounds(self, row: Row, transcript: Transcript) -> Exchange[dict[str, Any]]:
        original = self._text(row, "instruction")
        rng = mutations.rng_for(self.seed, original)
        names = list(self.mutation_templates)
        instruction = original
        evolved: list[str] = []
        for _ in range(self.num_evolutions):
            request = self._mutation_request(rng.choice(names), {"instruction": instruction})
            instruction = yield from transcript.ask(request, clean_instruction, stage="instruction")
            evolved.append(instruction)
        if self.store_evolutions and self.include_original_instruction:
            evolved.insert(0, original)
        kept = evolved if self.store_evolutions else evolved[-1:]
        outputs: dict[str, Any] = (
            {"evolved_instructions": evolved}
            if self.store_evolutions
            else {"evolved_instruction": evolved[-1]}
        )
        if self.generate_answers:
            answers = yield from answer_each(transcript, kept)
            outputs.update(
                {"answers": answers} if self.store_evolutions else {"answer": answers[0]}
            )
        return outputs


def answer_each(transcript: Transcript, instructions: list[str]) -> Exchange[list[str]]:
    """Ask the LLM to answer each instruction in turn, returning the answers."""
    answers = []
    for instruction in instructions:
        request: ChatType = [{"role": "user", "content": instruction}]
        answers.append((yield from transcript.ask(request, parsing.clean_text, stage="answer")))
    return answers
