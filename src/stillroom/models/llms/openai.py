"""`OpenAILLM`: OpenAI's API, and any OpenAI-compatible server through `base_url`.

Requests are JSON bodies built here and POSTed through `RemoteLLM` (one keep-alive pool per
event loop, see `transport`); replies are parsed as plain JSON. Going around the openai SDK's
request and response models saves about a millisecond of CPU per request, which is what
bounded throughput with many requests in flight. The SDK client (`AsyncOpenAI`, with its own
retries off) is still there as `_aclient`, for users' own code: it sends through the same
connections, and the SDK is imported when that property is first read, not with this module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr

from stillroom.errors import LLMRequestError, StructuredOutputError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.image_parts import IMAGE_TOKENS, count_images
from stillroom.models.llms.openai_replies import read_samples, total_tokens
from stillroom.models.llms.openai_sdk import SdkCall
from stillroom.models.llms.openai_servers import (
    KEYLESS_PLACEHOLDER,
    OPENAI_BASE_URL,
    openai_spec_fields,
)
from stillroom.models.llms.rate_limit import estimate_tokens
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION, RemoteLLM
from stillroom.models.llms.sending import Request, Sender
from stillroom.models.llms.structured import GenerationCollector, Sample
from stillroom.models.llms.structured_modes import (
    AUTO_ORDER,
    REGEX_MODES,
    StructuredOutputMode,
    refuses_mode,
    structured_payload,
)
from stillroom.models.llms.transport import LoopSessions
from stillroom.typing import FormattedInput, GenerateOutput
from stillroom.utils.chat import content_text

if TYPE_CHECKING:
    import openai

    from stillroom.models.llms.spec import LLMSpec

logger = logging.getLogger("stillroom.llms")


class OpenAILLM(RemoteLLM):
    """OpenAI chat and completions, or an OpenAI-compatible server (vLLM, Ollama, TGI, ...).

    `num_generations` is sent as `n`; a server that rejects `n` (or ignores it) is asked one
    generation at a time instead, and the LLM remembers that for its later requests.
    A structured output is sent in the form `structured_output_mode` names (`auto`: OpenAI's
    `json_schema` response format, then the other forms a server may take, see
    `structured_modes`), and every reply is validated against it.
    """

    base_url: RuntimeParameter[str] = Field(
        default_factory=lambda: os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
        description="The API's URL (default $OPENAI_BASE_URL, else OpenAI's); for a "
        "self-hosted server something like http://localhost:8000/v1.",
    )
    api_key_env: str | None = Field(default="OPENAI_API_KEY", description=API_KEY_ENV_DESCRIPTION)
    structured_output_mode: StructuredOutputMode = Field(
        default="auto",
        description="How a structured output is asked for: 'json_schema' (OpenAI's response "
        "format), 'json_object' (with the schema, llama-cpp-python), 'tgi_grammar', "
        "'guided_json' / 'structured_outputs' (vLLM), 'llama_server', 'ollama_format', 'tools' "
        "(a forced tool call), 'prompt' (the schema in a system message), or 'auto': the "
        "standard form first, the next one when the server refuses it.",
    )
    default_headers: RuntimeParameter[dict[str, str] | None] = Field(
        default=None, description="Headers added to every request (e.g. a gateway's)."
    )

    _stillroom_fields: ClassVar[frozenset[str]] = frozenset({"structured_output_mode"})

    _n_supported: bool | None = PrivateAttr(default=None)
    _learnt_mode: StructuredOutputMode | None = PrivateAttr(default=None)
    _refused_modes: set[str] = PrivateAttr(default_factory=set)
    _probe_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = PrivateAttr(
        default_factory=weakref.WeakKeyDictionary
    )

    @classmethod
    def spec_fields(cls, spec: LLMSpec) -> dict[str, Any]:
        """The fields of an `openai:`, `vllm:`, `ollama:`, ... spec (see `llm_from_spec`).

        Only `openai` specs read OPENAI_API_KEY: a self-hosted server must never receive the
        user's OpenAI key. vLLM specs read VLLM_API_KEY (the variable `vllm serve` reads);
        other servers get a placeholder key unless `api_key=` is passed. TGI serves one model
        and ignores its name, so a `tgi` spec may leave it out (`openai_servers`).
        """
        return openai_spec_fields(spec)

    def _keyless_value(self) -> str | None:
        host = urlsplit(self.base_url).hostname or ""
        return None if host.endswith("openai.com") else KEYLESS_PLACEHOLDER

    def _make_client(self, sessions: LoopSessions) -> openai.AsyncOpenAI:
        import httpx
        import openai

        from stillroom.models.llms.sdk_transport import SessionTransport

        secret = self._secret.get_secret_value() if self._secret is not None else None
        return openai.AsyncOpenAI(
            api_key=secret,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=0,  # retries happen in RemoteLLM, in one place for every backend
            default_headers=self.default_headers,
            # the SDK's stubs name their own vendored httpx type; the class is httpx's
            http_client=httpx.AsyncClient(transport=SessionTransport(sessions)),  # type: ignore[arg-type]
        )

    async def _close_client(self, client: openai.AsyncOpenAI) -> None:
        await client.close()

    def _first_link(self) -> Sender:
        """Through the openai client the user set as `_aclient`, if any (`openai_sdk`)."""
        if self._client_set:
            return SdkCall(self._sdk_client, self.timeout)
        return super()._first_link()

    def _request_headers(self) -> dict[str, str]:
        secret = self._secret.get_secret_value() if self._secret is not None else ""
        headers = {
            "authorization": f"Bearer {secret}",
            "content-type": "application/json",
            "accept": "application/json",
        }
        # Read from the variables the SDK reads, without building the SDK client.
        for header, variable in (
            ("openai-organization", "OPENAI_ORG_ID"),
            ("openai-project", "OPENAI_PROJECT_ID"),
        ):
            if value := os.environ.get(variable):
                headers[header] = value
        return {**headers, **(self.default_headers or {})}

    def _api_url(self, endpoint: str) -> str:
        """The URL of `endpoint` ("chat/completions" or "completions") on this server."""
        return f"{self.base_url.rstrip('/')}/{endpoint}"

    # --- settings ----------------------------------------------------------------------------

    def request_settings(
        self,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        logit_bias: dict[str, float] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The generation settings `OpenAILLM` accepts, as the API names them.

        `max_new_tokens` is sent as `max_tokens`; a setting left at None is not sent, so the
        server's default applies. `extra_body` adds server-specific fields (e.g. vLLM's
        `top_k` or `min_p`).
        """
        return {
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "stop": stop,
            "seed": seed,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
            "logprobs": logprobs,
            "top_logprobs": top_logprobs,
            "logit_bias": logit_bias,
            **(extra_body or {}),
        }

    # --- generating --------------------------------------------------------------------------

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """`num_generations` chat replies to one conversation (see `request_settings`); a
        string is sent as a raw prompt to the completions endpoint, as distilabel does."""
        if isinstance(input, str):
            return await self._complete_prompt({"prompt": input}, num_generations, settings)
        messages, collector = self._conversation_and_collector(input, num_generations)
        params = self._settings_payload(settings)
        if collector.spec is None:
            return await self._collect({"messages": messages}, params, collector)
        mode: StructuredOutputMode = self.structured_output_mode
        if mode == "auto":
            if self._learnt_mode is None:
                return await self._probe(messages, params, collector)
            mode = self._learnt_mode
        return await self._collect_in(mode, messages, params, collector)

    async def _collect_in(
        self,
        mode: StructuredOutputMode,
        messages: list[Any],
        params: dict[str, Any],
        collector: GenerationCollector,
    ) -> GenerateOutput:
        assert collector.spec is not None
        messages, fields = structured_payload(mode, collector.spec, messages)
        return await self._collect({"messages": messages}, {**params, **fields}, collector, mode)

    async def _probe(
        self, messages: list[Any], params: dict[str, Any], collector: GenerationCollector
    ) -> GenerateOutput:
        """`auto` while the server's form is unknown: this row tries the forms in turn, one
        row at a time, so each refused form costs one request per run, and the first form
        the server answers is kept for this LLM (`learnt_state` carries it to a resumed run)."""
        loop = asyncio.get_running_loop()
        lock = self._probe_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            if self._learnt_mode is not None:  # another row found it while this one waited
                return await self._collect_in(self._learnt_mode, messages, params, collector)
            for mode in AUTO_ORDER:
                if mode in self._refused_modes:
                    continue
                try:
                    output = await self._collect_in(mode, messages, params, collector)
                except LLMRequestError as error:
                    if not refuses_mode(mode, error.status_code, str(error)):
                        raise  # the row's own failure: kept with it, nothing learnt
                    self._refused_modes.add(mode)
                    logger.info(
                        "%s: the server refused the structured-output form %r; trying the next",
                        self._label(),
                        mode,
                    )
                    continue
                except StructuredOutputError:
                    self._learn(mode)  # the server took the form; its replies did not match
                    raise
                self._learn(mode)
                return output
        raise AssertionError("the 'prompt' form is never refused")  # pragma: no cover

    def _constrains_to_regex(self) -> bool:
        """vLLM's and TGI's forms take a pattern; `auto` probes JSON forms only."""
        return self.structured_output_mode in REGEX_MODES

    def _learn(self, mode: StructuredOutputMode) -> None:
        if self._learnt_mode != mode:
            logger.info("%s: structured output sent as %r from now on", self._label(), mode)
        self._learnt_mode = mode

    def learnt_state(self) -> dict[str, Any]:
        """What this LLM found out about its server: the structured-output form `auto`
        settled on and whether `n` is honoured (a resumed run restores it, not probing again)."""
        state: dict[str, Any] = super().learnt_state()
        if self._learnt_mode is not None:
            state["structured_output_mode"] = self._learnt_mode
        if self._n_supported is not None:
            state["n_supported"] = self._n_supported
        return state

    def restore_learnt_state(self, state: dict[str, Any]) -> None:
        super().restore_learnt_state(state)
        mode = state.get("structured_output_mode")
        if mode in AUTO_ORDER:
            self._learnt_mode = mode
        if isinstance(state.get("n_supported"), bool):
            self._n_supported = state["n_supported"]

    def offline_batch_generate(
        self,
        inputs: list[FormattedInput] | None = None,
        num_generations: int = 1,
        **settings: Any,
    ) -> list[GenerateOutput]:
        """Replies through OpenAI's Batch API (see `openai_batch`): the first call creates
        the batch and raises `StillroomOfflineBatchGenerationNotFinishedException`; later
        calls poll it (`jobs_ids`) and return one output per input once it has ended."""
        from stillroom.models.llms.openai_batch import offline_generate

        self._ensure_loaded("offline_batch_generate()")
        return self.run_sync(offline_generate(self, inputs, num_generations, settings))

    async def agenerate_from_prompt(
        self, prompt: str, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """`num_generations` completions of a raw prompt (the `/completions` endpoint).

        The prompt is sent as is, with no chat template, so it may end inside a turn (what
        Magpie-style generation needs). `generation_kwargs` apply, overridden by `settings`.
        """
        self._ensure_loaded("agenerate_from_prompt()")
        async with self._request_slot():
            return await self._complete_prompt(
                {"prompt": prompt}, num_generations, {**self.generation_kwargs, **settings}
            )

    async def _complete_prompt(
        self, body: dict[str, Any], num_generations: int, settings: dict[str, Any]
    ) -> GenerateOutput:
        """`agenerate_from_prompt` once the slot is held (`body` holds the prompt)."""
        params = self._settings_payload(settings)
        if params.pop("logprobs", False):  # the completions API takes a count, not a flag
            params["logprobs"] = params.pop("top_logprobs", None) or 1
        params.pop("top_logprobs", None)
        collector = GenerationCollector(None, num_generations, 0, self._label())
        return await self._collect(body, params, collector)

    def generate_results_from_prompts(
        self, prompts: list[str], num_generations: int = 1, **settings: Any
    ) -> list[GenerateOutput | BaseException]:
        """One result per raw prompt, a failed request being its exception (never raises)."""

        async def one(prompt: str) -> GenerateOutput | BaseException:
            try:
                return await self.agenerate_from_prompt(prompt, num_generations, **settings)
            except Exception as exc:
                return exc

        async def all_prompts() -> list[GenerateOutput | BaseException]:
            return list(await asyncio.gather(*(one(p) for p in prompts)))

        return self.run_sync(all_prompts())

    async def _collect(
        self,
        body: dict[str, Any],
        params: dict[str, Any],
        collector: GenerationCollector,
        mode: StructuredOutputMode | None = None,
    ) -> GenerateOutput:
        while count := collector.missing:
            collector.add(await self._sample(body, count, params, collector.issued, mode))
        return collector.output()

    async def _sample(
        self,
        body: dict[str, Any],
        count: int,
        params: dict[str, Any],
        offset: int,
        mode: StructuredOutputMode | None,
    ) -> list[Sample]:
        """`count` generations: one request with `n`, or one request each if `n` fails."""
        if count == 1:
            return await self._request(body, 1, params, offset, mode)
        if self._n_supported is False:
            return await self._one_by_one(body, count, params, offset, mode)
        try:
            samples = await self._request(body, count, params, offset, mode)
        except LLMRequestError as error:
            # Not `is not None`: a request sent with `n` before another one found `n` refused
            # gets its 400 after `_n_supported` became False, and must fall back too.
            if (
                self._n_supported is True
                or error.status_code not in (400, 422)
                or (mode is not None and refuses_mode(mode, error.status_code, str(error)))
            ):
                raise
            samples = await self._one_by_one(body, count, params, offset, mode)
            self._n_unsupported("rejected", count)
            return samples
        answered = sum(not s.extra for s in samples)
        if answered >= count:
            self._n_supported = True
            return samples
        self._n_unsupported("ignored", count)
        rest = await self._one_by_one(body, count - answered, params, offset + answered, mode)
        return samples + rest

    def _n_unsupported(self, how: str, count: int) -> None:
        """Ask one generation per request from now on, saying so once (not once per request
        that was in flight with `n` when the server refused it)."""
        if self._n_supported is None:
            logger.info(
                "%s: the server %s n=%d; asking one generation per request from now on",
                self._label(),
                how,
                count,
            )
        self._n_supported = False

    async def _one_by_one(
        self,
        body: dict[str, Any],
        count: int,
        params: dict[str, Any],
        offset: int,
        mode: StructuredOutputMode | None,
    ) -> list[Sample]:
        # Sequential, so one row never holds more requests in flight than its one slot.
        samples: list[Sample] = []
        for index in range(count):
            samples += await self._request(body, 1, params, offset + index, mode)
        return samples

    async def _request(
        self,
        body: dict[str, Any],
        n: int,
        params: dict[str, Any],
        offset: int,
        mode: StructuredOutputMode | None = None,
    ) -> list[Sample]:
        payload: dict[str, Any] = {"model": self.model, **body, **params}
        if n > 1:
            payload["n"] = n
        if offset and params.get("seed") is not None:
            payload["seed"] = params["seed"] + offset  # same seed would repeat the same reply
        chat = "messages" in body
        estimate = self._estimate(body, n, params) if self._limits_tokens() else 0
        url = self._api_url("chat/completions" if chat else "completions")
        reply = await self._send(
            Request(
                url,
                self._json_body(payload),
                read=lambda data: (self._samples(data, chat, mode, n), total_tokens(data)),
                estimated_tokens=estimate,
                tokens_used=lambda read: read[1],
            )
        )
        return reply[0]

    @staticmethod
    def _estimate(body: dict[str, Any], n: int, params: dict[str, Any]) -> int:
        """The tokens a request may use (prompt, images, every reply's budget), for a
        tokens-per-minute limit."""
        messages = body.get("messages", [])
        texts = [content_text(m.get("content") or "") for m in messages] or [body.get("prompt", "")]
        return (
            estimate_tokens(texts, 0)
            + IMAGE_TOKENS * sum(count_images(m.get("content")) for m in messages)
            + n * (params.get("max_tokens") or 0)
        )

    def _samples(
        self, data: Any, chat: bool, mode: StructuredOutputMode | None = None, asked: int = 1
    ) -> list[Sample]:
        """The generations of a (chat) completion body that asked for `asked` of them
        (`openai_replies.read_samples`)."""
        return read_samples(data, chat, mode, self._malformed, asked)
