"""`TransformersLLM`: a Hugging Face causal LM run in-process by transformers ([transformers]).

The model and its tokenizer are loaded with `AutoModelForCausalLM` / `AutoTokenizer` from a
Hub id or a local folder. Each conversation is rendered with the tokenizer's chat template
(or `chat_template`), and the prompts of one `generate` call go through `model.generate` as
one left-padded batch, so token counts are exact and a GPU sees whole batches.

Structured output is *enforced* when llguidance (in the [transformers] extra) is installed:
each row of a batch decodes under its own schema's grammar (`constrained.GrammarConstraint`),
so a reply is valid JSON of that schema unless `max_new_tokens` cuts it short. Every reply is
still validated after generation and an invalid one asked for again
(`structured_output_retries`); without llguidance, or for a schema llguidance cannot compile,
that validation is all there is, and a small model rarely follows a schema unprompted.

Prompts and Magpie (`in_process.HFTokenizerPromptsMixin`): with `use_magpie_template` the
conversation is rendered up to the opening of a user turn, so the model writes the user's
message.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import Field, PrivateAttr, SecretStr

from stillroom.errors import StillroomError
from stillroom.models.extras import import_extra
from stillroom.models.llms.huggingface.constrained import GrammarCompiler
from stillroom.models.llms.huggingface.hub import HF_TOKEN_ENV
from stillroom.models.llms.in_process import InProcessLLM, collect_in_batches
from stillroom.models.llms.structured import (
    GenerationCollector,
    Sample,
    StructuredSpec,
)
from stillroom.models.mixins.cuda_device_placement import CudaDevicePlacementMixin
from stillroom.typing import GenerateOutput, HiddenState, StandardInput

if TYPE_CHECKING:
    from types import ModuleType


def hf_token_from_env() -> SecretStr | None:
    value = os.environ.get(HF_TOKEN_ENV)
    return SecretStr(value) if value else None


class PretrainedSource(Protocol):
    """The fields an object loading a transformers model from the Hub or a folder has
    (`TransformersLLM`, `RewardModelScore`)."""

    model: str
    revision: str
    trust_remote_code: bool
    token: SecretStr | None
    torch_dtype: str
    device_map: str | dict[str, Any] | None

    def _label(self) -> str: ...


def load_pretrained(
    source: PretrainedSource,
    model_class: str,
    *,
    tokenizer: str | None = None,
    tokenizer_kwargs: dict[str, Any] | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """A tokenizer (padding with its end token when it has no pad token) and a model in
    evaluation mode, both by transformers' `from_pretrained` as `source`'s fields say;
    `model_class` names the Auto class. One that cannot be loaded is an error naming
    `source`."""
    label, model = source._label(), source.model
    auto = import_extra("transformers", label, "transformers")
    token = source.token.get_secret_value() if source.token is not None else None
    common = {
        "revision": source.revision,
        "trust_remote_code": source.trust_remote_code,
        "token": token,
    }
    try:
        loaded_tokenizer = auto.AutoTokenizer.from_pretrained(
            tokenizer or model, **common, **(tokenizer_kwargs or {})
        )
        loaded_model = getattr(auto, model_class).from_pretrained(
            model,
            dtype=source.torch_dtype,
            device_map=source.device_map,
            **common,
            **(model_kwargs or {}),
        )
    except (OSError, ValueError) as exc:
        raise StillroomError(f"{label}: transformers could not load {model!r}: {exc}") from exc
    if loaded_tokenizer.pad_token is None:
        loaded_tokenizer.pad_token = loaded_tokenizer.eos_token
    loaded_model.eval()
    return loaded_tokenizer, loaded_model


class TransformersLLM(InProcessLLM, CudaDevicePlacementMixin):
    """A causal language model from the Hub or a folder, run by transformers in this process."""

    model: str = Field(description="Hub repository id or local folder of the model.")
    revision: str = Field(default="main", description="Hub revision (branch, tag or commit).")
    torch_dtype: str = Field(
        default="auto", description='Weights dtype: "auto" (as saved), "float16", "bfloat16", ...'
    )
    trust_remote_code: bool = Field(
        default=False, description="Run modelling code shipped with the model."
    )
    model_kwargs: dict[str, Any] | None = Field(
        default=None, description="More arguments for AutoModelForCausalLM.from_pretrained."
    )
    tokenizer: str | None = Field(
        default=None, description="Hub id or folder of the tokenizer; None: the model's."
    )
    use_fast: bool = Field(default=True, description="Use the fast (Rust) tokenizer.")
    chat_template: str | None = Field(
        default=None, description="A Jinja chat template replacing the tokenizer's."
    )
    device: str | int | None = Field(
        default=None,
        description='Where the model runs: "cpu", "cuda" (a GPU chosen by cuda_devices), '
        '"cuda:1", "mps", a GPU number; None: the CPU unless device_map places it.',
    )
    device_map: str | dict[str, Any] | None = Field(
        default=None, description='Spread the model over devices ("auto", or a layer map).'
    )
    token: SecretStr | None = Field(
        default_factory=hf_token_from_env,
        description=f"Hub token for gated or private models (default ${HF_TOKEN_ENV}).",
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset(
        {"device", "device_map", "cuda_devices", "disable_cuda_device_placement", "use_fast"}
    )

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _grammars: GrammarCompiler | None = PrivateAttr(default=None)

    def _constrains_to_regex(self) -> bool:
        """llguidance (the [transformers] extra) holds decoding to the pattern; without it a
        pattern is refused, as a free model would only fail the check."""
        return importlib.util.find_spec("llguidance") is not None

    @property
    def model_name(self) -> str:
        return self.model

    # --- lifecycle -----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the tokenizer and the model (on the chosen GPU when `device` is "cuda")."""
        super().load()
        if self.device == "cuda":
            self.place_on_cuda_devices()
        tokenizer, model = load_pretrained(
            self,
            "AutoModelForCausalLM",
            tokenizer=self.tokenizer,
            tokenizer_kwargs={"use_fast": self.use_fast},
            model_kwargs=self.model_kwargs,
        )
        if self.device is not None and self.device_map is None:
            model = model.to(self.device)
        if self.chat_template is not None:
            tokenizer.chat_template = self.chat_template
        tokenizer.padding_side = "left"  # generation continues the prompts' right ends
        self._tokenizer, self._model = tokenizer, model
        vocab_size = getattr(model.config, "vocab_size", None)
        self._grammars = GrammarCompiler(
            tokenizer, vocab_size, _stop_ids(model, tokenizer), self._label()
        )

    def unload(self) -> None:
        self._model = self._tokenizer = self._grammars = None
        if self.device == "cuda":
            self.release_cuda_devices()
        super().unload()

    # --- settings ------------------------------------------------------------------------------

    def request_settings(
        self,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.1,
        repetition_penalty: float = 1.1,
        top_p: float = 1.0,
        top_k: int = 0,
        do_sample: bool = True,
    ) -> dict[str, Any]:
        """The generation settings `TransformersLLM` accepts, with distilabel's defaults.

        `do_sample=False` (or `temperature` 0) decodes greedily; the sampling settings are
        then left out, as transformers ignores them.
        """
        sample = do_sample and temperature > 0
        payload: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "repetition_penalty": repetition_penalty,
            "do_sample": sample,
        }
        if sample:
            payload.update(temperature=temperature, top_p=top_p, top_k=top_k)
        return payload

    # --- prompts -------------------------------------------------------------------------------

    @property
    def _loaded_tokenizer(self) -> Any:
        self._ensure_loaded("using the tokenizer")
        return self._tokenizer

    # --- generation ----------------------------------------------------------------------------

    def _generate(
        self, prompts: list[str], collectors: list[GenerationCollector], params: dict[str, Any]
    ) -> list[GenerateOutput | BaseException]:
        return collect_in_batches(
            collectors,
            lambda indices: self._generate_batch(
                [prompts[i] for i in indices], params, [collectors[i].spec for i in indices]
            ),
        )

    def _generate_batch(
        self,
        prompts: list[str],
        params: dict[str, Any],
        specs: list[StructuredSpec | None] | None = None,
    ) -> list[Sample]:
        """One generation per prompt, in one `model.generate` call; a prompt with a
        structured output (`specs`) is decoded under its grammar when llguidance is there."""
        torch = _torch(self._label())
        tokenizer, model = self._loaded_tokenizer, self._model
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(model.device)
        extra: dict[str, Any] = {}
        constraint = self._grammars.constraint(specs) if self._grammars and specs else None
        if constraint is not None:
            processors = import_extra("transformers", self._label(), "transformers")
            extra["logits_processor"] = processors.LogitsProcessorList([constraint])
        with torch.inference_mode():
            output = model.generate(
                **encoded, pad_token_id=tokenizer.pad_token_id, **params, **extra
            )
        prompt_length = encoded["input_ids"].shape[1]
        stops = _stop_ids(model, tokenizer)
        samples = []
        for row, mask in zip(output, encoded["attention_mask"], strict=True):
            new = row[prompt_length:].tolist()
            length = next((k + 1 for k, token in enumerate(new) if token in stops), len(new))
            text = tokenizer.decode(new[:length], skip_special_tokens=True)
            samples.append(Sample(text, int(mask.sum()), length))
        return samples

    # --- hidden states -------------------------------------------------------------------------

    def get_last_hidden_states(self, inputs: list[StandardInput]) -> list[HiddenState]:
        """The base model's last hidden states for each conversation (rendered as for
        generation), without the language-model head: a float32 array of shape
        [tokens, hidden size] per input, padding left out."""
        self._ensure_loaded("get_last_hidden_states()")
        torch = _torch(self._label())
        tokenizer, model = self._loaded_tokenizer, self._model
        base = model.base_model
        prompts = [self.prepare_input(messages) for messages in inputs]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(model.device)
        with torch.inference_mode():
            output = base(**encoded)
        states = getattr(output, "last_hidden_state", None)
        if states is None:
            raise StillroomError(
                f"{self._label()}: the base model ({type(base).__name__}) returns no "
                "last_hidden_state; use a transformers causal LM whose base model does."
            )
        return [
            row[mask.bool()].float().cpu().numpy()
            for row, mask in zip(states, encoded["attention_mask"], strict=True)
        ]


def _torch(feature: str) -> ModuleType:
    return import_extra("torch", feature, "transformers")


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a generation: the model's EOS ids and the tokenizer's."""
    ids = model.generation_config.eos_token_id
    stops = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        stops.add(tokenizer.eos_token_id)
    return stops
