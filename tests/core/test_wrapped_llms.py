"""LLMs composed around other LLMs: the pipeline's cached wrapper and `FallbackLLM`."""

from __future__ import annotations

from typing import Any

import pytest

from stillroom.errors import LLMRequestError
from stillroom.models import AsyncMockLLM, FallbackLLM, MockLLM
from stillroom.models.llms.wrapper import unwrap
from stillroom.pipeline import Pipeline
from stillroom.pipeline.cached_llm import AsyncCachedLLM, CachedLLM, cached_llm
from stillroom.pipeline.requests import Ledger
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration


def _fail(messages: Any) -> str:
    raise RuntimeError("primary is down")


def _echo(messages: Any) -> str:
    return "backup: " + messages[-1]["content"]


class FakeReplies:
    """Answers from a dict; records every request and what was sent."""

    def __init__(self, cached: dict[str, Any]) -> None:
        self.cached = cached
        self.seen: list[Any] = []

    def _lookup(self, request: Any, ledger: Ledger | None) -> Any:
        self.seen.append(request)
        if ledger is not None:
            ledger.hashes.append(repr(request).encode())
        return self.cached.get(request["input"][-1]["content"])

    def many(self, requests: list[Any], ledger: Ledger | None, send: Any) -> list[Any]:
        results = [self._lookup(r, ledger) for r in requests]
        misses = [i for i, r in enumerate(results) if r is None]
        for i, result in zip(misses, send(misses) if misses else [], strict=True):
            results[i] = result
        return results

    async def one(self, request: Any, ledger: Ledger | None, send: Any) -> Any:
        result = self._lookup(request, ledger)
        return result if result is not None else await send()


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_a_cached_llm_keeps_the_contract_and_shows_the_wrapped_llm() -> None:
    llm = MockLLM(model="m", responses="fresh", generation_kwargs={"temperature": 0.5})
    replies = FakeReplies({"old": {"generations": ["from cache"]}})
    wrapper = cached_llm(llm, replies)
    assert type(wrapper) is CachedLLM and unwrap(wrapper) is llm
    assert wrapper.model_name == "m" and wrapper.generation_kwargs == {"temperature": 0.5}
    assert wrapper.dump() == llm.dump()  # a run's wrapper is not configuration
    wrapper.load()
    ledger = Ledger()
    unit = wrapper.for_unit(ledger)
    outputs = unit.generate([chat("old"), chat("new")], num_generations=1, top_p=0.9)
    assert [o["generations"] for o in outputs] == [["from cache"], ["fresh"]]
    assert [c.prompt for c in llm.calls] == ["new"]  # only the miss reached the LLM
    assert replies.seen[0]["call"] == {"num_generations": 1, "top_p": 0.9}
    assert len(ledger.hashes) == 2 and unit.last_reply == "fresh"


async def test_an_async_llm_stays_async_behind_the_cache() -> None:
    llm = AsyncMockLLM(responses="fresh", max_concurrent_requests=7)
    wrapper = cached_llm(llm, FakeReplies({}))
    assert isinstance(wrapper, AsyncCachedLLM) and wrapper.max_concurrent_requests == 7
    wrapper.load()
    assert (await wrapper.agenerate(chat("q")))["generations"] == ["fresh"]
    assert (await wrapper.agenerate_result(chat("q")))["generations"] == ["fresh"]  # type: ignore[index]


def test_fallback_answers_with_the_next_llm_when_one_fails() -> None:
    fallback = FallbackLLM(
        llms=[AsyncMockLLM(model="a", responses=_fail), MockLLM(model="b", responses=_echo)]
    )
    fallback.load()
    (output,) = fallback.generate([chat("hello")])
    assert output["generations"] == ["backup: hello"]
    assert fallback.model_name == "a | b"


def test_fallback_names_every_failure() -> None:
    fallback = FallbackLLM(
        llms=[AsyncMockLLM(model="a", responses=_fail), MockLLM(model="b", responses=_fail)]
    )
    fallback.load()
    with pytest.raises(LLMRequestError, match=r"'a'.*primary is down.*'b'.*primary is down"):
        fallback.generate([chat("hello")])


def test_fallback_round_trips_and_runs_in_a_pipeline() -> None:
    fallback = FallbackLLM(
        llms=[AsyncMockLLM(model="a", responses=_fail), AsyncMockLLM(model="b", responses=_echo)]
    )
    plain = FallbackLLM(llms=[AsyncMockLLM(model="a"), MockLLM(model="b", responses="x")])
    assert FallbackLLM.from_dict(plain.dump()) == plain
    with Pipeline(name="fallback") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(5)])
        task = TextGeneration(llm=fallback)
        load >> task
    rows = pipeline.run(progress=False)["default"]["train"].to_list()
    assert [r["generation"] for r in rows] == [f"backup: q{i}" for i in range(5)]
    assert {r["model_name"] for r in rows} == {"a | b"}
    assert task.llm is fallback  # the run's wrapper is gone afterwards


def test_a_custom_process_sees_a_cached_llm_of_the_same_kind_during_a_run() -> None:
    seen: list[Any] = []

    class Peek(TextGeneration):
        def process(self, inputs):  # type: ignore[no-untyped-def]
            seen.append(self.llm)
            self.llm.generate([chat("direct")])
            yield from super().process(inputs)

    llm = MockLLM(responses="r")
    with Pipeline(name="peek") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "q"}]) >> Peek(llm=llm)
    pipeline.run(progress=False)
    (during,) = seen
    assert isinstance(during, CachedLLM) and unwrap(during) is llm
    pipeline.run(progress=False, use_cache=True)
    assert [c.prompt for c in llm.calls] == ["direct", "q"]  # the second run: all cached
