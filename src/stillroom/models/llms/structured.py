"""Structured output: what a backend asks for, how replies are checked, and how often to re-ask.

A structured output is a pydantic model or a JSON schema (`{"format": "json", "schema": ...}`,
optionally with `"max_retries"`), or a regular expression (`{"format": "regex", "schema":
pattern}`) for the backends that can constrain decoding to one; it is set on the LLM or
returned by a task's `format_input` next to the messages. Backends send it in whatever form
their API takes; every reply is then validated here (a pattern must match the whole reply),
and replies that fail are requested again, up to `structured_output_retries` times.
Generations that never validate are None, with the validation error recorded.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, NonNegativeInt, ValidationError

from stillroom.errors import StillroomError, StructuredOutputError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.json_schema import schema_errors
from stillroom.typing import ChatType, FormattedInput, GenerateOutput, StructuredOutputType

logger = logging.getLogger("stillroom.llms")


def split_input(input: FormattedInput) -> tuple[ChatType, StructuredOutputType | None]:
    """The messages of a formatted input and the structured output it asks for, if any."""
    if isinstance(input, tuple):
        return input[0], input[1]
    return input, None


@dataclass(frozen=True)
class StructuredSpec:
    """A resolved structured output: a name, a JSON schema and, maybe, the pydantic model;
    or, with `regex`, a pattern the whole reply must match (`schema` is then empty)."""

    name: str
    schema: dict[str, Any]
    model: type[BaseModel] | None = None
    max_retries: int | None = None
    regex: str | None = None

    def check(self, text: str | None) -> tuple[str | None, str | None]:
        """`(json_text, None)` (the reply, for a regex) when the reply is valid, else
        `(None, why)`."""
        if text is None:
            return None, "the LLM returned no text"
        if self.regex is not None:
            return _check_pattern(self.regex, text)
        candidate = extract_json(text)
        try:
            value = json.loads(candidate)
        except ValueError as exc:
            return None, f"the reply is not valid JSON ({exc}): {_preview(text)}"
        if self.model is not None:
            try:
                self.model.model_validate(value)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '$'}: {e['msg']}"
                    for e in exc.errors()[:3]
                )
                return None, f"the reply does not match {self.name}: {problems}"
            return candidate, None
        problems_list = schema_errors(value, self.schema)
        if problems_list:
            return None, f"the reply does not match {self.name}: {'; '.join(problems_list[:3])}"
        return candidate, None


def _preview(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "...")


def extract_json(text: str) -> str:
    """The JSON part of a reply: inside a ``` fence if there is one, else from the first
    bracket to the matching last one (models often wrap JSON in prose or markdown)."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    text = text.strip()
    if text[:1] in "{[":
        return text
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return text
    start = min(starts)
    end = text.rfind("}" if text[start] == "{" else "]")
    return text[start : end + 1] if end > start else text


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "structured_output"


def resolve_structured(value: Any, label: str) -> StructuredSpec | None:
    """Turn a `structured_output` value (dict or pydantic model class) into a `StructuredSpec`."""
    if value is None:
        return None
    if isinstance(value, type) and issubclass(value, BaseModel):
        value = {"schema": value}
    if not isinstance(value, dict) or "schema" not in value:
        raise StillroomError(
            f"{label}: structured_output must be a pydantic model class or a dict such as "
            f"{{'format': 'json', 'schema': MyModel}}, got {value!r}."
        )
    retries = value.get("max_retries")
    if value.get("format", "json") == "regex":
        return _regex_spec(value["schema"], retries, label)
    if value.get("format", "json") != "json":
        raise StillroomError(
            f"{label}: structured_output format {value['format']!r} is not supported; use "
            "'json' with a JSON schema or a pydantic model, or 'regex' with a pattern."
        )
    schema = value["schema"]
    if isinstance(schema, dict) and set(schema) == {"json_schema"}:
        schema = schema["json_schema"]  # a pydantic model as written by dump()
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return StructuredSpec(
            _safe_name(schema.__name__), schema.model_json_schema(), schema, retries
        )
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as exc:
            raise StillroomError(f"{label}: structured_output schema is not JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise StillroomError(
            f"{label}: structured_output schema must be a pydantic model or a JSON schema dict, "
            f"got {type(schema).__name__}."
        )
    return StructuredSpec(
        _safe_name(str(schema.get("title", "structured_output"))), schema, None, retries
    )


PATTERN_CHECK_SECONDS = 1.0
"""The longest a reply's check against a pattern may take: a pattern with nested repetition
can backtrack for hours on a reply cut short, and the check runs on the engine's loop."""


def _check_pattern(pattern: str, text: str) -> tuple[str | None, str | None]:
    """`(text, None)` when `pattern` matches the whole reply, else `(None, why)`. Checked
    with the `regex` library (the dialect constrained decoders take, Unicode classes included),
    under `PATTERN_CHECK_SECONDS`; `.` matches newlines too."""
    import regex

    try:
        matched = regex.fullmatch(pattern, text, regex.DOTALL, timeout=PATTERN_CHECK_SECONDS)
    except TimeoutError:
        return None, (
            f"checking the reply against the pattern {pattern!r} took over "
            f"{PATTERN_CHECK_SECONDS:g} s (nested repetition on a reply cut short?), so it is "
            f"taken as not matching: {_preview(text)}"
        )
    if matched is None:
        return None, f"the reply does not match the pattern {pattern!r}: {_preview(text)}"
    return text, None


def _regex_spec(pattern: Any, retries: int | None, label: str) -> StructuredSpec:
    if not isinstance(pattern, str):
        raise StillroomError(
            f"{label}: a 'regex' structured_output needs a pattern string as its schema, got "
            f"{type(pattern).__name__}."
        )
    import regex

    try:
        regex.compile(pattern)
    except regex.error as exc:
        raise StillroomError(
            f"{label}: the structured_output pattern {pattern!r} is not a valid regular "
            f"expression ({exc})."
        ) from None
    return StructuredSpec("regex", {}, None, retries, regex=pattern)


@dataclass
class Sample:
    """One generation as a backend produced it."""

    text: str | None
    input_tokens: int | None = None
    output_tokens: int | None = None
    logprobs: Any = None
    extra: bool = False
    """A choice the server returned beyond the generations asked for: kept as a generation,
    its tokens counted in the asked ones' statistics."""

    def total_tokens(self) -> int:
        """Prompt plus reply tokens, what a tokens-per-minute limit counts (0 if unknown)."""
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass
class GenerationCollector:
    """Gathers the generations of one input across requests, re-asking for invalid ones.

    Backends loop `while collector.missing: collector.add(<request `missing` generations>)`,
    then return `collector.output()`. Without a structured output every sample is accepted
    and a single request is made. `extra` samples (see `Sample`) come after the wanted ones
    and never count towards them, so nothing a server sent is dropped.
    """

    spec: StructuredSpec | None
    wanted: int
    retries: int
    label: str
    accepted: list[Sample] = field(default_factory=list)
    extras: list[tuple[Sample, str | None]] = field(default_factory=list)
    """The `extra` samples, each with why it failed the structured output (None: valid)."""
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    issued: int = 0
    """Generations requested so far; backends offset seeds by it so a retry is a new draw."""

    @property
    def missing(self) -> int:
        allowed = 1 + (self.retries if self.spec is not None else 0)
        return 0 if self.requests >= allowed else self.wanted - len(self.accepted)

    def add(self, samples: list[Sample]) -> None:
        self.requests += 1
        # Extra samples come last (read_samples puts them there); the usual reply has none
        # and is not copied, as this runs once per request.
        extra = samples[-1].extra if samples else False
        asked = [s for s in samples if not s.extra] if extra else samples
        self.issued += len(asked)
        room = asked[: self.wanted - len(self.accepted)]
        if self.spec is None:
            self.accepted += room
        else:
            for sample in room:
                checked, error = self._check(sample)
                if error is None:
                    self.accepted.append(checked)
                else:
                    self.errors.append(error)
        if extra:
            self.extras += [self._check(s) for s in samples if s.extra]

    def _check(self, sample: Sample) -> tuple[Sample, str | None]:
        """The sample with its text as validated (None if it fails, with why)."""
        if self.spec is None:
            return sample, None
        text, error = self.spec.check(sample.text)
        if error is not None:
            # DEBUG: one line per rejected reply would flood a run's console
            logger.debug("%s: structured reply rejected: %s", self.label, error)
        return replace(sample, text=text), error

    def output(self) -> GenerateOutput:
        if not self.extras:
            return self._output([], [])
        return self._output([sample for sample, _ in self.extras], [e for _, e in self.extras])

    def _output(self, extras: list[Sample], extra_errors: list[str | None]) -> GenerateOutput:
        """`output()` given the extra samples and why each failed (None: valid)."""
        valid_extra = any(error is None for error in extra_errors)
        if not self.accepted and not valid_extra and self.errors and self.spec is not None:
            raise StructuredOutputError(
                f"{self.label}: no reply matched the structured output {self.spec.name!r} "
                f"in {self.requests} request(s) (structured_output_retries={self.retries}); "
                f"last problem: {self.errors[-1]}"
            )
        missing = self.wanted - len(self.accepted)
        output: GenerateOutput = {
            "generations": [s.text for s in self.accepted]
            + [None] * missing
            + [s.text for s in extras],
            "statistics": {},
        }
        if any(s.input_tokens is not None for s in self.accepted):
            output["statistics"] = {
                "input_tokens": [s.input_tokens for s in self.accepted],  # type: ignore[misc]
                "output_tokens": [s.output_tokens for s in self.accepted],  # type: ignore[misc]
            }
        if missing or any(extra_errors):
            reason = self.errors[-1] if self.errors else "the LLM returned fewer generations"
            output["errors"] = [None] * len(self.accepted) + [reason] * missing + extra_errors
        if any(s.logprobs is not None for s in self.accepted) or any(
            s.logprobs is not None for s in extras
        ):
            output["logprobs"] = (
                [s.logprobs for s in self.accepted]
                + [None] * missing
                + [s.logprobs for s in extras]
            )
        return output


class StructuredOutputMixin(BaseModel):
    """The setting and helpers every backend with structured output shares."""

    structured_output_retries: RuntimeParameter[NonNegativeInt] = Field(
        default=2,
        description="New requests for a structured reply that fails validation, before the "
        "generation is kept as None with the error.",
    )

    # Only replies valid for every generation are cached, so the retry count cannot change one.
    _transport_fields: ClassVar[frozenset[str]] = frozenset({"structured_output_retries"})
    _stillroom_fields: ClassVar[frozenset[str]] = frozenset({"structured_output_retries"})

    if TYPE_CHECKING:

        def _label(self) -> str: ...  # the LLM's

    def _collector(
        self, structured: StructuredOutputType | None, num_generations: int
    ) -> GenerationCollector:
        """A collector for one input, using the input's structured output or the LLM's."""
        label = self._label()
        spec = resolve_structured(
            structured if structured is not None else getattr(self, "structured_output", None),
            label,
        )
        if spec is not None and spec.regex is not None and not self._constrains_to_regex():
            raise StillroomError(
                f"{label}: a 'regex' structured output needs a backend that constrains "
                "decoding to a pattern (TransformersLLM with llguidance, from the [transformers] "
                "extra; vLLM; InferenceEndpointsLLM on a TGI "
                "server, or OpenAILLM against vLLM with structured_output_mode "
                "'structured_outputs' or 'guided_json', against TGI with 'tgi_grammar'); this "
                "one cannot. Ask for a JSON schema instead, or use one of those."
            )
        retries = self.structured_output_retries
        if spec is not None and spec.max_retries is not None:
            retries = spec.max_retries
        return GenerationCollector(spec, num_generations, retries, label)

    def _constrains_to_regex(self) -> bool:
        """Whether this backend can hold its decoding to a regular expression; without it,
        a regex structured output is refused before any request (a model that is not held
        to a pattern it never sees would only fail the check, request after request)."""
        return False

    def _conversation_and_collector(
        self, input: FormattedInput, num_generations: int
    ) -> tuple[ChatType, GenerationCollector]:
        """What a chat backend's `agenerate` starts from: the input's conversation and the
        collector of its generations (its structured output, else the LLM's)."""
        messages, structured = split_input(input)
        return messages, self._collector(structured, num_generations)
