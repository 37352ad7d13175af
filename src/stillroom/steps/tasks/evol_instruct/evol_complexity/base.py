"""`EvolComplexity`: `EvolInstruct` restricted to in-depth mutations."""

from __future__ import annotations

from pydantic import Field

from stillroom.steps.tasks.evol_instruct import mutations
from stillroom.steps.tasks.evol_instruct.base import EvolInstruct


class EvolComplexity(EvolInstruct):
    """Make each `instruction` more complex over `num_evolutions` rounds.

    Deita's complexity evolution: like `EvolInstruct`, but every mutation deepens the same
    instruction (more constraints, more depth, more concrete, more reasoning steps) instead
    of sometimes moving to a new topic, so that the rounds form a ladder of difficulty a
    `ComplexityScorer` can rank. Same fields and columns as `EvolInstruct`.

    Columns: inputs = `instruction`; outputs = `evolved_instruction` (or
    `evolved_instructions` with `store_evolutions`), `answer`/`answers` with
    `generate_answers`, `model_name`.
    """

    mutation_templates: dict[str, str] = Field(
        default_factory=mutations.evol_complexity_templates,
        description="Mutation name -> Jinja2 prompt reading {{ instruction }}.",
    )
