"""`MagpieGenerator`: Magpie as a generator, with no input rows at all."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.tasks.base import GeneratorTask
from stillroom.steps.tasks.magpie.base import MagpieBase
from stillroom.steps.tasks.multi_round import (
    OneGenerationPerRequest,
    RepliesReadInRounds,
    Transcript,
    exchange_row,
    run_lockstep,
)
from stillroom.steps.typing import GeneratorStepOutput, StepColumns
from stillroom.typing import FormattedInput


class MagpieGenerator(OneGenerationPerRequest, RepliesReadInRounds, MagpieBase, GeneratorTask):
    """Generate `num_rows` instructions or conversations with Magpie, `batch_size` at a time.

    Same settings as `Magpie` (`n_turns`, `end_with_user`, `include_system_prompt`,
    `only_instruction`, `system_prompt`), but the rows are created from nothing. A failed or
    empty reply gives a row with None outputs and the error in its metadata. The rows differ
    only through sampling: with a fixed `seed` in the LLM's generation settings, rows with
    the same system prompt (or none) are identical.

    Columns: outputs = `instruction` (and `response`) or `conversation`,
    `system_prompt_key` (when `system_prompt` is a dict), `model_name`.
    """

    # distilabel's declaration: required when the pipeline runs, None until then
    num_rows: RuntimeParameter[int] = Field(default=None, description="Rows to generate.")  # type: ignore[assignment]

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._check_magpie_llm()

    @property
    def outputs(self) -> StepColumns:
        return self._magpie_columns()

    def _sample_input(self) -> FormattedInput:
        return next(self._dialogue({}, Transcript()))

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """Yield batches of generated rows until `num_rows` (counting `offset`) exist."""
        if self.num_rows is None:
            raise StillroomError(
                f"{self._label()}: set the runtime parameter num_rows (how many rows to generate)."
            )
        remaining = self.num_rows - offset
        if remaining <= 0:
            yield [], True
            return
        while remaining > 0:
            count = min(self.batch_size, remaining)
            exchanges = [exchange_row(self, {}, self._dialogue) for _ in range(count)]
            rows = run_lockstep(exchanges, self.generate_all)
            remaining -= count
            yield rows, remaining == 0
