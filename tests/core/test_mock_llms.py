"""The mock LLMs users test their tasks with."""

from __future__ import annotations

import asyncio

import pytest

from stillroom.errors import StillroomError
from stillroom.models import AsyncMockLLM, MockLLM

CHAT = [{"role": "user", "content": "two words"}]


def test_fixed_reply_and_statistics() -> None:
    llm = MockLLM(responses="one two three")
    (out,) = llm.generate([CHAT], num_generations=2)
    assert out == {
        "generations": ["one two three", "one two three"],
        "statistics": {"input_tokens": [2, 2], "output_tokens": [3, 3]},
    }


def test_list_is_consumed_in_order_then_errors() -> None:
    llm = MockLLM(responses=["a", "b"])
    assert [o["generations"] for o in llm.generate([CHAT, CHAT])] == [["a"], ["b"]]
    with pytest.raises(StillroomError, match="ran out of scripted responses after 2"):
        llm.generate([CHAT])
    llm.reset()
    assert llm.generate([CHAT])[0]["generations"] == ["a"] and len(llm.calls) == 1


def test_function_of_the_messages() -> None:
    llm = MockLLM(responses=lambda messages: messages[-1]["content"].upper())
    assert llm.generate([CHAT])[0]["generations"] == ["TWO WORDS"]


def test_calls_are_recorded_with_structured_output_and_kwargs() -> None:
    llm = MockLLM()
    schema = {"format": "json", "schema": {"type": "object"}}
    llm.generate([(CHAT, schema)], temperature=0.1)
    call = llm.calls[0]
    assert call.messages == CHAT and call.structured_output == schema
    assert call.kwargs == {"temperature": 0.1} and call.prompt == "two words"


def test_scripted_exception_is_raised() -> None:
    llm = MockLLM(responses=[ConnectionError("down")])
    with pytest.raises(ConnectionError):
        llm.generate([CHAT])


def test_async_mock_works_sync_and_async() -> None:
    llm = AsyncMockLLM(responses="hi")
    assert llm.generate([CHAT, CHAT])[1]["generations"] == ["hi"]
    assert asyncio.run(llm.agenerate(CHAT))["generations"] == ["hi"]
    llm.unload()


async def test_async_llm_generate_works_inside_a_running_loop() -> None:
    # What a notebook does: sync generate() while an event loop is running in this thread.
    llm = AsyncMockLLM(responses="hi", latency=0.01)
    assert llm.generate([CHAT])[0]["generations"] == ["hi"]
    llm.unload()


async def test_max_concurrent_requests_bounds_in_flight_calls() -> None:
    in_flight = peak = 0

    def reply(messages):  # runs inside agenerate, while the slot is held
        return "x"

    class Counting(AsyncMockLLM):
        async def agenerate(self, input, num_generations=1, **kwargs):  # type: ignore[override]
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return await super().agenerate(input, num_generations, **kwargs)

    llm = Counting(responses=reply, max_concurrent_requests=3)
    await asyncio.gather(*(llm.agenerate(CHAT) for _ in range(12)))
    assert peak == 3
