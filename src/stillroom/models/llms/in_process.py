"""What the in-process backends with a Hugging Face tokenizer share (transformers, vLLM, MLX).

`InProcessLLM` is their base: conversations rendered with the tokenizer's chat template,
Magpie included (`HFTokenizerPromptsMixin`), the sync `generate`/`generate_results` over one
`_replies` method, and `collect_in_batches`, which makes every missing generation of a call
in one batch per round, re-asking for replies that failed a structured output's validation.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError
from stillroom.models.llms.base import LLM
from stillroom.models.llms.settings import RequestSettingsMixin
from stillroom.models.llms.structured import (
    GenerationCollector,
    Sample,
    StructuredOutputMixin,
    split_input,
)
from stillroom.models.mixins.magpie import MagpieChatTemplateMixin
from stillroom.typing import ChatType, FormattedInput, GenerateOutput


class HFTokenizerPromptsMixin(MagpieChatTemplateMixin):
    """Prompts from a loaded Hugging Face tokenizer (`_loaded_tokenizer`) and its template."""

    if TYPE_CHECKING:

        @property
        def _loaded_tokenizer(self) -> Any: ...  # the backend's tokenizer, once loaded

        def _label(self) -> str: ...  # the LLM's

    def apply_chat_template(self, messages: ChatType, add_generation_prompt: bool = True) -> str:
        """The prompt text the model sees for `messages`, rendered with the chat template."""
        tokenizer = self._loaded_tokenizer
        if tokenizer.chat_template is None:
            raise StillroomError(
                f"{self._label()}: the tokenizer has no chat template; set chat_template."
            )
        return str(
            tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
            )
        )

    def prepare_input(self, input: ChatType) -> str:
        """The prompt for one conversation: rendered with the chat template (continued after
        Magpie's pre-query template when Magpie applies); without a chat template, the text
        of the first message, as distilabel does."""
        pre_query = self.magpie_pre_query_for(input)
        if pre_query is not None:
            return self.magpie_prompt(input, pre_query)
        if self._loaded_tokenizer.chat_template is None:
            return str(input[0]["content"]) if input else ""
        return self.apply_chat_template(input) if input else ""


def collect_in_batches(
    collectors: list[GenerationCollector],
    generate: Callable[[list[int]], Sequence[Sample | BaseException]],
) -> list[GenerateOutput | BaseException]:
    """Fill every collector, one `generate` call per round: `generate(indices)` makes one
    sample for each index (an input's index, repeated as many times as its collector still
    misses generations), or an exception where the engine failed that one request. An input
    whose generations never validate, or whose request failed, gets its error; the others
    in the same call keep their replies."""
    failed: dict[int, BaseException] = {}
    while pending := [
        (i, c.missing) for i, c in enumerate(collectors) if c.missing and i not in failed
    ]:
        samples = iter(generate([i for i, count in pending for _ in range(count)]))
        for i, count in pending:
            got = [next(samples) for _ in range(count)]
            made = [sample for sample in got if not isinstance(sample, BaseException)]
            if len(made) == count:
                collectors[i].add(made)
            else:
                failed[i] = next(error for error in got if isinstance(error, BaseException))
    results: list[GenerateOutput | BaseException] = []
    for i, collector in enumerate(collectors):
        if i in failed:
            results.append(failed[i])
            continue
        try:
            results.append(collector.output())
        except Exception as exc:
            results.append(exc)
    return results


class InProcessLLM(RequestSettingsMixin, StructuredOutputMixin, HFTokenizerPromptsMixin, LLM):
    """Base of the in-process backends: a subclass loads its model and tokenizer, declares
    `request_settings` and makes samples in `_generate(prompts, collectors, params)`."""

    def generate(
        self, inputs: list[FormattedInput], num_generations: int = 1, **settings: Any
    ) -> list[GenerateOutput]:
        """`num_generations` replies to each conversation; the first failure raises."""
        results = self._replies(inputs, num_generations, self._settings_payload(settings))
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results  # type: ignore[return-value]  # no exception left

    def generate_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **settings: Any
    ) -> list[GenerateOutput | BaseException]:
        """Like `generate`, but one input's failure is its result instead of raising."""
        self._ensure_loaded("generate()")
        params = self._settings_payload({**self.generation_kwargs, **settings})
        return self._replies(inputs, num_generations, params)

    def generate_results_from_prompts(
        self, prompts: list[str], num_generations: int = 1, **settings: Any
    ) -> list[GenerateOutput | BaseException]:
        """`num_generations` continuations of each raw prompt (special tokens in
        it parsed), as Magpie and raw-template users need; a failure is that prompt's result."""
        self._ensure_loaded("generate_results_from_prompts()")
        params = self._settings_payload({**self.generation_kwargs, **settings})
        collectors = [GenerationCollector(None, num_generations, 0, self._label()) for _ in prompts]
        return self._generate(prompts, collectors, params)

    def _replies(
        self, inputs: list[FormattedInput], num_generations: int, params: dict[str, Any]
    ) -> list[GenerateOutput | BaseException]:
        prompts: list[str] = []
        collectors: list[GenerationCollector] = []
        refused: dict[int, BaseException] = {}  # an input's structured output this LLM cannot take
        for index, formatted in enumerate(inputs):
            messages, structured = split_input(formatted)
            try:
                collector = self._collector(structured, num_generations)
            except StillroomError as exc:
                refused[index] = exc
                continue
            prompts.append(self.prepare_input(messages))
            collectors.append(collector)
        made = iter(self._generate(prompts, collectors, params) if prompts else [])
        return [refused[i] if i in refused else next(made) for i in range(len(inputs))]

    @abstractmethod
    def _generate(
        self, prompts: list[str], collectors: list[GenerationCollector], params: dict[str, Any]
    ) -> list[GenerateOutput | BaseException]:
        """The results for `prompts`, made with `collect_in_batches(collectors, ...)`."""
