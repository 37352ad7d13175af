"""`EvolInstructGenerator`: write instructions from nothing and evolve them until long enough."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field, PositiveInt, model_validator
from typing_extensions import Self

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.tasks.base import METADATA_COLUMN, GeneratorTask
from stillroom.steps.tasks.evol_instruct import mutations
from stillroom.steps.tasks.evol_instruct.base import answer_each, clean_instruction
from stillroom.steps.tasks.multi_round import (
    Exchange,
    OneGenerationPerRequest,
    ReplyError,
    Transcript,
    row_with_transcript,
    run_lockstep,
)
from stillroom.steps.typing import GeneratorStepOutput, Row, StepColumns
from stillroom.typing import ChatType, FormattedInput

logger = logging.getLogger("stillroom.tasks")

_FRESH_WORDS = 3


@dataclass
class _Slot:
    """One instruction being evolved: its current text (None before the first round)."""

    instruction: str | None = None
    transcript: Transcript = field(default_factory=Transcript)
    round_statistics: dict[str, list[int | None]] = field(default_factory=dict)
    """Token counts of every request of the round that accepted it (one item per request)."""


class EvolInstructGenerator(OneGenerationPerRequest, mutations.EvolMutationsMixin, GeneratorTask):
    """Create `num_instructions` instructions with no input data, Evol-Instruct style.

    `batch_size` instructions are grown side by side. Each starts from a FRESH_START prompt
    seeded with random nouns, then is rewritten with random mutations until its length in
    bytes lies between `min_length` and `max_length`; it is then emitted (and, with
    `generate_answers`, answered). One that grows past `max_length`, or whose request fails,
    is dropped and its slot starts afresh. At most `max_rounds` rounds are run (by default
    ten times the rounds needed if every reply were accepted), so a model that never reaches
    `min_length` cannot loop forever; fewer rows are produced then, with a warning.

    Each row's `statistics_instruction_<name>` holds the token counts of every request of the
    round that accepted it, one item per request, as distilabel records them (so a sum over
    rows counts a round once per row it gave; the run summary's counts are per request).

    Columns: outputs = `instruction`, `answer` (with `generate_answers`), `model_name`.
    """

    num_instructions: PositiveInt = Field(description="Instructions to create.")
    generate_answers: bool = Field(
        default=False, description="Also ask the LLM to answer each instruction."
    )
    mutation_templates: dict[str, str] = Field(
        default_factory=lambda: mutations.with_fresh_start(mutations.evol_instruct_templates()),
        description="Mutation name -> Jinja2 prompt reading {{ instruction }}; FRESH_START "
        "reads the seed words as {{ seeds }} (or {{ instruction }}).",
    )
    min_length: RuntimeParameter[PositiveInt] = Field(
        default=512, description="Shortest accepted instruction, in bytes."
    )
    max_length: RuntimeParameter[PositiveInt] = Field(
        default=1024, description="Longest accepted instruction, in bytes."
    )
    max_rounds: RuntimeParameter[PositiveInt | None] = Field(
        default=None, description="Rounds of mutation at most (None: ten times the minimum)."
    )

    _template_variables: ClassVar[tuple[str, ...]] = ("instruction", "seeds")

    @model_validator(mode="after")
    def _check_setup(self) -> Self:
        if mutations.FRESH_START not in self.mutation_templates:
            raise ValueError(
                f"{type(self).__name__}: mutation_templates needs a {mutations.FRESH_START!r} "
                "template, which writes each new instruction from the seed words."
            )
        if len(self.mutation_templates) < 2:
            raise ValueError(
                f"{type(self).__name__}: mutation_templates needs at least one mutation besides "
                f"{mutations.FRESH_START!r} to evolve instructions with."
            )
        if self.min_length > self.max_length:
            raise ValueError(
                f"{type(self).__name__}: min_length ({self.min_length}) is above max_length "
                f"({self.max_length})."
            )
        return self

    @property
    def outputs(self) -> StepColumns:
        columns = ["instruction", "answer"] if self.generate_answers else ["instruction"]
        return [*columns, "model_name"]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Read one reply as an instruction (raises ValueError on an empty reply)."""
        return {"instruction": clean_instruction(output or "")}

    def _request(self, slot: _Slot, rng: random.Random) -> ChatType:
        if slot.instruction is None:
            seeds = ", ".join(rng.sample(mutations.SEED_WORDS, _FRESH_WORDS))
            values = {"seeds": seeds, "instruction": seeds}
            return self._mutation_request(mutations.FRESH_START, values)
        names = [name for name in self.mutation_templates if name != mutations.FRESH_START]
        return self._mutation_request(rng.choice(names), {"instruction": slot.instruction})

    def _sample_input(self) -> FormattedInput:
        return self._request(_Slot(), mutations.rng_for(self.seed, "sample"))

    def _attempt(self, slot: _Slot, request: ChatType) -> Exchange[str | ReplyError]:
        try:
            return (
                yield from slot.transcript.ask(request, self._read_instruction, stage="instruction")
            )
        except ReplyError as exc:
            return exc

    def _read_instruction(self, text: str) -> str:
        return str(self.format_output(text)["instruction"])

    def _rows(self, accepted: list[_Slot]) -> list[Row]:
        """Rows for the accepted instructions, answering them first if asked to."""

        def finish(slot: _Slot) -> Exchange[Row]:
            outputs: dict[str, Any] = {"instruction": slot.instruction}
            if not self.generate_answers:
                return row_with_transcript(self, {}, outputs, slot.transcript)
            try:
                answers = yield from answer_each(slot.transcript, [slot.instruction or ""])
            except ReplyError as exc:
                outputs["answer"] = None
                return row_with_transcript(self, {}, outputs, slot.transcript, str(exc))
            return row_with_transcript(self, {}, {**outputs, "answer": answers[0]}, slot.transcript)

        rows = run_lockstep([finish(slot) for slot in accepted], self.generate_all)
        key = f"statistics_instruction_{self.name}"
        for row, slot in zip(rows, accepted, strict=True):
            row[METADATA_COLUMN][key] = slot.round_statistics
        return rows

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """Yield instructions as they are accepted, from `offset` up to `num_instructions`."""
        target = self.num_instructions - offset
        if target <= 0:
            yield [], True
            return
        rng = mutations.rng_for(self.seed, offset)
        slots = [_Slot() for _ in range(min(self.batch_size, target))]
        rounds = self.max_rounds or 10 * math.ceil(target / len(slots))
        produced = 0
        ready: list[Row] = []
        for _ in range(rounds):
            accepted = self._round(slots, rng)[: target - produced]
            produced += len(accepted)
            if accepted:
                ready.extend(self._rows(accepted))
            if produced >= target:
                break
            while len(ready) >= self.batch_size:
                yield ready[: self.batch_size], False
                ready = ready[self.batch_size :]
        else:
            logger.warning(
                "%s: stopped after %d rounds with %d of %d instructions; raise max_rounds or "
                "lower min_length if the model writes shorter instructions.",
                self._label(),
                rounds,
                produced,
                target,
            )
        yield ready, True

    def _round(self, slots: list[_Slot], rng: random.Random) -> list[_Slot]:
        """Evolve every slot once; return the slots whose instruction is now accepted.

        Accepted, failed and overlong slots are replaced by fresh ones in `slots`.
        """
        requests = [self._request(slot, rng) for slot in slots]
        replies = run_lockstep(
            [self._attempt(s, r) for s, r in zip(slots, requests, strict=True)],
            self.generate_all,
        )
        asked = [slot.transcript for slot in slots]
        round_statistics = {
            "input_tokens": [transcript.input_tokens[-1] for transcript in asked],
            "output_tokens": [transcript.output_tokens[-1] for transcript in asked],
        }
        accepted: list[_Slot] = []
        for index, reply in enumerate(replies):
            slot = slots[index]
            if isinstance(reply, ReplyError):
                logger.debug("%s: instruction dropped: %s", self._label(), reply)
                slots[index] = _Slot()
                continue
            size = len(reply.encode("utf-8"))
            if size > self.max_length:
                slots[index] = _Slot()
                continue
            slot.instruction = reply
            if size >= self.min_length:
                slot.round_statistics = round_statistics
                accepted.append(slot)
                slots[index] = _Slot()
        return accepted
