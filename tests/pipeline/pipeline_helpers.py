"""Steps and LLMs the pipeline tests share (also imported by the subprocess scripts)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, SecretStr

from stillroom.models import AsyncMockLLM
from stillroom.steps import GlobalStep, Step, StepInput
from stillroom.steps.typing import StepColumns, StepOutput


class RecordingLLM(AsyncMockLLM):
    """Appends each finished request's prompt to a file.

    It waits `$RECORDING_LATENCY` seconds, or `$RECORDING_SLOW_LATENCY` for prompts "q<i>"
    with i >= `$RECORDING_SLOW_FROM`: environment variables, so that runs of the same
    pipeline (same signature) can be slower or faster.
    """

    record_path: str

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:
        prompt = input[-1]["content"]
        delay = float(os.environ.get("RECORDING_LATENCY", "0"))
        slow_from = os.environ.get("RECORDING_SLOW_FROM")
        if slow_from is not None and int(prompt[1:]) >= int(slow_from):
            delay = float(os.environ["RECORDING_SLOW_LATENCY"])
        await asyncio.sleep(delay)
        output = await super().agenerate(input, num_generations, **kwargs)
        fd = os.open(self.record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (prompt + "\n").encode())
        finally:
            os.close(fd)
        return output


class DelayLLM(AsyncMockLLM):
    """Waits `delays[prompt]` (or `latency`) and records when each request finished."""

    delays: dict[str, float] = Field(default_factory=dict)
    _finished: list[tuple[str, float]] = PrivateAttr(default_factory=list)

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:
        prompt = input[-1]["content"]
        await asyncio.sleep(self.delays.get(prompt, self.latency))
        output = await super().agenerate(input, num_generations, **kwargs)
        self._finished.append((prompt, time.monotonic()))
        return output

    @property
    def finished(self) -> list[str]:
        return [prompt for prompt, _ in self._finished]


class SecretLLM(AsyncMockLLM):
    """A mock LLM with an API key, to check that keys never reach the cache."""

    api_key: SecretStr = Field(default=SecretStr(""))


class Shout(Step):
    """Adds `shout`: the `generation` column upper-cased."""

    @property
    def inputs(self) -> StepColumns:
        return ["generation"]

    @property
    def outputs(self) -> StepColumns:
        return ["shout"]

    def process(self, inputs: StepInput) -> StepOutput:
        for row in inputs:
            row["shout"] = (row["generation"] or "").upper()
        yield inputs


class Join(Step):
    """Receives aligned rows from each predecessor and merges them column-wise."""

    @property
    def outputs(self) -> StepColumns:
        return ["joined"]

    def process(self, *inputs: StepInput) -> StepOutput:
        rows = []
        for parts in zip(*inputs, strict=True):
            merged: dict[str, Any] = {}
            for part in parts:
                merged.update(part)
            merged["joined"] = [part.get("generation") for part in parts]
            rows.append(merged)
        yield rows


class CountAll(GlobalStep):
    """A global step: records the size of each call and numbers the rows."""

    calls: ClassVar[list[int]] = []

    @property
    def outputs(self) -> StepColumns:
        return ["position", "total"]

    def process(self, inputs: StepInput) -> StepOutput:
        CountAll.calls.append(len(inputs))
        for index, row in enumerate(inputs):
            row["position"] = index
            row["total"] = len(inputs)
        yield inputs


class PidStep(Step):
    """A CPU-bound step run in the process pool: records the worker's pid."""

    cpu_bound: ClassVar[bool] = True

    @property
    def outputs(self) -> StepColumns:
        return ["pid"]

    def process(self, inputs: StepInput) -> StepOutput:
        yield [{**row, "pid": os.getpid()} for row in inputs]


class SpanStep(Step):
    """A CPU-bound step recording when each batch ran; the first batch takes `first_delay` s
    so that the others can only overlap it by running in another worker process."""

    cpu_bound: ClassVar[bool] = True
    first_delay: float = 0.0
    flag: str | None = None
    bad: str | None = None

    @property
    def outputs(self) -> StepColumns:
        return ["pid", "started", "ended"]

    def process(self, inputs: StepInput) -> StepOutput:
        started = time.time()
        names = [row["instruction"] for row in inputs]
        if self.bad in names and self.flag is not None and os.path.exists(self.flag):
            raise RuntimeError(f"cannot handle {self.bad}")
        if "q0" in names:
            time.sleep(self.first_delay)
        ended = time.time()
        yield [{**row, "pid": os.getpid(), "started": started, "ended": ended} for row in inputs]


class FailingGlobal(GlobalStep):
    """A global step that raises while the file `flag` exists."""

    flag: str

    def process(self, inputs: StepInput) -> StepOutput:
        if os.path.exists(self.flag):
            raise RuntimeError("broken")
        yield inputs


class FailOnce(Step):
    """Raises on the batch containing `bad` while the file `flag` exists."""

    flag: str
    bad: str

    def process(self, inputs: StepInput) -> StepOutput:
        if os.path.exists(self.flag) and any(row.get("instruction") == self.bad for row in inputs):
            raise RuntimeError(f"cannot handle {self.bad}")
        yield inputs
