"""DPO formatting: rated generations as chosen/rejected conversation pairs."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from stillroom.errors import InvalidRowsError
from stillroom.steps.formatting.chat import (
    RowFormattingStep,
    first_user_message,
    messages_value,
    prompt_id,
    text_value,
    user_turn,
)
from stillroom.steps.typing import Row, StepColumns
from stillroom.typing import ChatType

_OUTPUTS: dict[str, bool] = {
    "prompt": True,
    "prompt_id": True,
    "chosen": True,
    "chosen_model": False,
    "chosen_rating": True,
    "rejected": True,
    "rejected_model": False,
    "rejected_rating": True,
}


class _FormatDPO(RowFormattingStep):
    """Picks the chosen and rejected generations of a row from its ratings."""

    @property
    def outputs(self) -> StepColumns:
        return dict(_OUTPUTS)

    @abstractmethod
    def _conversation(self, index: int, row: Row) -> tuple[str | None, ChatType]:
        """The prompt and the messages that precede each candidate answer."""

    def _format(self, index: int, row: Row) -> Row:
        prompt, conversation = self._conversation(index, row)
        generations, ratings, models = self._candidates(index, row)
        usable = [
            k
            for k, (g, r) in enumerate(zip(generations, ratings, strict=True))
            if g is not None and r is not None
        ]
        # chosen_model/rejected_model (the optional outputs) only when models are known.
        pair: dict[str, Any] = dict.fromkeys(
            c for c, required in _OUTPUTS.items() if required or models is not None
        )
        pair.update({"prompt": prompt, "prompt_id": prompt_id(prompt)})
        if len(usable) >= 2:
            # Highest rating wins (first on ties); the rejected one is the lowest-rated
            # of the others, so ties still give two different generations.
            chosen = max(usable, key=lambda k: ratings[k])
            rejected = min((k for k in usable if k != chosen), key=lambda k: ratings[k])
            for side, k in (("chosen", chosen), ("rejected", rejected)):
                pair[side] = [*conversation, {"role": "assistant", "content": generations[k]}]
                pair[f"{side}_rating"] = ratings[k]
                if models is not None:
                    pair[f"{side}_model"] = models[k]
        return {**row, **pair}

    def _candidates(self, index: int, row: Row) -> tuple[list[Any], list[Any], list[Any] | None]:
        label = self._label()
        generations, ratings = row["generations"], row["ratings"]
        models = row.get("generation_models")
        if generations is None or ratings is None:
            # An upstream LLM request failed (its row was kept with None outputs): this row
            # is kept too, with None in the pair columns.
            return [], [], None
        for column, value in (("generations", generations), ("ratings", ratings)):
            if not isinstance(value, list):
                raise InvalidRowsError(
                    f"{label}: column {column!r} of row {index} should be a list, got "
                    f"{type(value).__name__} {value!r:.80}. Group the generations first, e.g. "
                    "with GroupColumns or a task's num_generations + group_generations=True."
                )
        if len(generations) < 2:
            raise InvalidRowsError(
                f"{label}: row {index} has {len(generations)} generation(s); a preference "
                "pair needs at least two to compare."
            )
        if len(ratings) != len(generations):
            raise InvalidRowsError(
                f"{label}: row {index} has {len(generations)} generations but "
                f"{len(ratings)} ratings; the rating task must rate every generation."
            )
        bad = [r for r in ratings if r is not None and not isinstance(r, int | float)]
        if bad or any(isinstance(r, bool) for r in ratings):
            raise InvalidRowsError(
                f"{label}: the ratings of row {index} should be numbers (or None for a "
                f"generation the judge could not rate), got {ratings!r:.80}."
            )
        if models is not None and (not isinstance(models, list) or len(models) != len(generations)):
            raise InvalidRowsError(
                f"{label}: 'generation_models' of row {index} should list one model per "
                f"generation ({len(generations)}), got {models!r:.80}."
            )
        return generations, ratings, models


class FormatTextGenerationDPO(_FormatDPO):
    """Build a DPO pair from an instruction's rated generations.

    Feed it rows that have several `generations` for one `instruction` and a rating for
    each (for example `[gen_a, gen_b] >> GroupColumns(...) >> UltraFeedback(...)`). The
    highest-rated generation is `chosen`, the lowest-rated of the others `rejected`; both
    are full conversations (`[system?, user, assistant]`). Generations that are `None` or
    unrated (`None` rating) are skipped; a row left with fewer than two keeps `None` in the
    pair columns instead of being dropped, so filter on `chosen` before training. With
    equal ratings the pair is still built (`chosen_rating == rejected_rating`): filter on
    the ratings if you want strict preferences.

    Input columns:
        - instruction (`str`): the prompt the generations answer.
        - generations (`list[str]`): at least two candidate answers.
        - ratings (`list[float | None]`): one rating per generation, higher is better.
        - system_prompt (`str`, optional): prepended as a system message.
        - generation_models (`list[str]`, optional): the model behind each generation.

    Output columns:
        - prompt (`str`), prompt_id (`str`, SHA-256 of the prompt).
        - chosen, rejected (`list[dict]`): the conversations ending with each answer.
        - chosen_rating, rejected_rating (`float`).
        - chosen_model, rejected_model (`str`, only when `generation_models` is given).

    Example:
        ```python
        dpo = FormatTextGenerationDPO()
        row = {"instruction": "2+2?", "generations": ["4", "5"], "ratings": [5, 1]}
        next(dpo.process([row]))[0]["chosen"][-1]
        # {"role": "assistant", "content": "4"}
        ```
    """

    @property
    def inputs(self) -> StepColumns:
        return {
            "instruction": True,
            "generations": True,
            "ratings": True,
            "system_prompt": False,
            "generation_models": False,
        }

    def _conversation(self, index: int, row: Row) -> tuple[str | None, ChatType]:
        instruction = text_value(self._label(), index, "instruction", row["instruction"])
        return instruction, user_turn(row.get("system_prompt"), instruction)


class FormatChatGenerationDPO(_FormatDPO):
    """Build a DPO pair from the rated answers to a conversation's next turn.

    Same as `FormatTextGenerationDPO`, but the candidates answer the `messages` of a chat
    (as produced by `ChatGeneration`): `chosen` and `rejected` are those messages followed
    by each answer, and `prompt` is the first user message.

    Input columns:
        - messages (`list[dict]`): the conversation so far (at least one user message).
        - generations (`list[str]`): at least two candidate answers.
        - ratings (`list[float | None]`): one rating per generation, higher is better.
        - generation_models (`list[str]`, optional): the model behind each generation.

    Output columns:
        - prompt (`str`), prompt_id (`str`, SHA-256 of the prompt).
        - chosen, rejected (`list[dict]`): the conversations ending with each answer.
        - chosen_rating, rejected_rating (`float`).
        - chosen_model, rejected_model (`str`, only when `generation_models` is given).

    Example:
        ```python
        dpo = FormatChatGenerationDPO()
        row = {"messages": [{"role": "user", "content": "Hi"}],
               "generations": ["Hello!", "..."], "ratings": [4, 2]}
        next(dpo.process([row]))[0]["rejected"][-1]
        # {"role": "assistant", "content": "..."}
        ```
    """

    @property
    def inputs(self) -> StepColumns:
        return {"messages": True, "generations": True, "ratings": True, "generation_models": False}

    def _conversation(self, index: int, row: Row) -> tuple[str | None, ChatType]:
        messages = messages_value(self._label(), index, "messages", row["messages"])
        return first_user_message(self._label(), index, messages), list(messages)
