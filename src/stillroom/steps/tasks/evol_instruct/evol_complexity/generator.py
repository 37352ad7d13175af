"""`EvolComplexityGenerator`: `EvolInstructGenerator` restricted to in-depth mutations."""

from __future__ import annotations

from pydantic import Field

from stillroom.steps.tasks.evol_instruct import mutations
from stillroom.steps.tasks.evol_instruct.generator import EvolInstructGenerator


class EvolComplexityGenerator(EvolInstructGenerator):
    """Create `num_instructions` instructions from nothing, evolving them in depth only.

    Same fields and columns as `EvolInstructGenerator`; after FRESH_START every mutation
    makes the instruction more complex rather than changing its topic.

    Columns: outputs = `instruction`, `answer` (with `generate_answers`), `model_name`.
    """

    mutation_templates: dict[str, str] = Field(
        default_factory=lambda: mutations.with_fresh_start(mutations.evol_complexity_templates()),
        description="Mutation name -> Jinja2 prompt reading {{ instruction }}; FRESH_START "
        "reads the seed words as {{ seeds }} (or {{ instruction }}).",
    )
