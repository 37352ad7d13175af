"""Steps and pipelines the Ray tests run, both on Ray and on the local engine.

Ray workers cannot import this file (it is not installed), so the tests register it to be
pickled by value (`ship_by_value`), as a user's script would be.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from stillroom.models import OpenAILLM
from stillroom.models.llms.base import LLM, AsyncLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import GeneratorStep, GlobalStep, LoadDataFromDicts, Step, StepInput
from stillroom.steps.tasks import GeneratorTask, TextGeneration
from stillroom.steps.typing import GeneratorOutput, StepOutput
from stillroom.testing import MockLLMServer, ReplyContext
from stillroom.typing import FormattedInput, GenerateOutput


def ship_by_value() -> None:
    """Let Ray workers rebuild the classes and functions defined here."""
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Digest(Step):
    """CPU-heavy: hashes each generation `rounds` times. Raises on the batch holding
    "question 50" while the file `fail_while` exists."""

    rounds: int = 3000
    fail_while: str | None = None
    record_worker: bool = False

    @property
    def inputs(self) -> list[str]:
        return ["generation"]

    @property
    def outputs(self) -> list[str]:
        return ["digest"]

    def process(self, inputs: StepInput) -> StepOutput:
        if (
            self.fail_while
            and Path(self.fail_while).exists()
            and any(row["instruction"] == "question 50" for row in inputs)
        ):
            raise ValueError(f"cannot digest while {Path(self.fail_while).name} exists")
        for row in inputs:
            text = row["generation"]
            value = text.encode() if text is not None else b""
            for _ in range(self.rounds):
                value = hashlib.sha256(value).digest()
            row["digest"] = value.hex()[:16] if text is not None else None
            if self.record_worker:
                row["worker"] = os.getpid()
        yield inputs


class Tally(GlobalStep):
    """Sees every row at once: writes how many rows and how many have a digest. Raises while
    the file `fail_while` exists."""

    fail_while: str | None = None

    @property
    def inputs(self) -> list[str]:
        return ["digest"]

    @property
    def outputs(self) -> list[str]:
        return ["rows", "digested"]

    def process(self, inputs: StepInput) -> StepOutput:
        if self.fail_while and Path(self.fail_while).exists():
            raise ValueError(f"cannot tally while {Path(self.fail_while).name} exists")
        digested = sum(row["digest"] is not None for row in inputs)
        yield [{**row, "rows": len(inputs), "digested": digested} for row in inputs]


class SameJoke(GeneratorTask):
    """Calls `self.llm.generate` itself, with the same prompt three times per batch."""

    batches: int = 2

    def process(self, offset: int = 0) -> GeneratorOutput:
        for index in range(offset // 3, self.batches):
            outputs = self.llm.generate(inputs=[[{"role": "user", "content": "a joke"}]] * 3)
            rows = [self.format_output(o["generations"][0], None) for o in outputs]
            yield rows, index == self.batches - 1

    @property
    def outputs(self) -> list[str]:
        return ["joke"]

    def format_output(self, output: str | None, input: dict[str, Any] | None) -> dict[str, Any]:
        return {"joke": output}


class DiesAfter(OpenAILLM):
    """Kills its own process once it has the reply to `die_after`, while the file `marker`
    exists (removed first, so the replica that replaces it lives)."""

    die_after: str
    marker: str

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput:
        output = await super().agenerate(input, num_generations, **kwargs)
        if input[-1]["content"] == self.die_after and os.path.exists(self.marker):  # type: ignore[index]
            os.remove(self.marker)
            os._exit(1)
        return output


def answer(context: ReplyContext) -> str:
    """The mock server's reply: an echo, or a failure (HTTP 500) for every question number
    ending in 3, whatever the attempt."""
    if context.prompt.endswith("3"):
        raise RuntimeError(f"no answer for {context.prompt!r}")
    return f"answer to {context.prompt}"


def server_llm(server: MockLLMServer, concurrency: int = 16) -> OpenAILLM:
    """OpenAILLM on the mock server, without retries (a failure is final)."""
    return OpenAILLM(
        model="mock-model",
        base_url=server.base_url,
        api_key="dummy",
        max_retries=0,
        max_concurrent_requests=concurrency,
    )


def build(
    cache_dir: Path,
    llm: LLM,
    rows: int = 120,
    *,
    fail_while: Path | None = None,
    tally_fail_while: Path | None = None,
    record_worker: bool = False,
    name: str = "ray-test",
) -> Pipeline:
    """generator >> TextGeneration(llm) >> Digest (2 replicas, 1 CPU each) >> Tally."""
    with Pipeline(name=name, cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"question {i}"} for i in range(rows)], batch_size=10
        )
        answer = TextGeneration(llm=llm, input_batch_size=10)
        digest = Digest(
            resources={"replicas": 2, "cpus": 1},
            input_batch_size=10,
            fail_while=str(fail_while) if fail_while is not None else None,
            record_worker=record_worker,
        )
        tally = Tally(fail_while=str(tally_fail_while) if tally_fail_while is not None else None)
        load >> answer >> digest >> tally
    return pipeline


class SlowOnce(AsyncLLM):
    """Answers in 5 ms, except prompt `slow`, which takes `delay` seconds; appends each
    prompt to `log` when its reply is ready."""

    log: str
    slow: str = "question 0"
    delay: float = 1.5

    @property
    def model_name(self) -> str:
        return "slow-once"

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput:
        prompt = input[-1]["content"]  # type: ignore[index]
        await asyncio.sleep(self.delay if prompt == self.slow else 0.005)
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(f"{time.time():.3f} {prompt}\n")
        return {
            "generations": [f"answer to {prompt}"] * num_generations,
            "statistics": {"input_tokens": [2] * num_generations, "output_tokens": [3]},
        }


class CrashingLoader(GeneratorStep):
    """Yields `rows` questions in batches of 10; its process exits after emitting the batch
    that ends at `crash_at` rows, while the file `marker` exists (removed first, so the
    replica that replaces it lives)."""

    rows: int = 100
    crash_at: int = 40
    marker: str

    @property
    def outputs(self) -> list[str]:
        return ["instruction"]

    def process(self, offset: int = 0) -> GeneratorOutput:
        for start in range(offset, self.rows, 10):
            if start == self.crash_at and os.path.exists(self.marker):
                os.remove(self.marker)
                os._exit(1)
            end = min(start + 10, self.rows)
            yield [{"instruction": f"question {i}"} for i in range(start, end)], end == self.rows


class AlwaysDies(Step):
    """Its process exits on the batch holding "question 5", every time."""

    @property
    def inputs(self) -> list[str]:
        return ["instruction"]

    @property
    def outputs(self) -> list[str]:
        return ["seen"]

    def process(self, inputs: StepInput) -> StepOutput:
        if any(row["instruction"] == "question 5" for row in inputs):
            os._exit(1)
        yield [{**row, "seen": True} for row in inputs]


class Upper(Step):
    """Light work: the instruction in capitals (reserves no CPU by default)."""

    @property
    def inputs(self) -> list[str]:
        return ["instruction"]

    @property
    def outputs(self) -> list[str]:
        return ["upper"]

    def process(self, inputs: StepInput) -> StepOutput:
        yield [{**row, "upper": row["instruction"].upper()} for row in inputs]


class RaisingLoader(GeneratorStep):
    """Yields `rows` questions in batches of 10; raises before the batch starting at
    `raise_at` while the file `marker` exists."""

    rows: int = 60
    raise_at: int = 30
    marker: str

    @property
    def outputs(self) -> list[str]:
        return ["instruction"]

    def process(self, offset: int = 0) -> GeneratorOutput:
        for start in range(offset, self.rows, 10):
            if start == self.raise_at and os.path.exists(self.marker):
                raise ValueError("the loader stops while its marker exists")
            end = min(start + 10, self.rows)
            yield [{"instruction": f"question {i}"} for i in range(start, end)], end == self.rows


class Logged(Step):
    """Passes its rows on; appends "load <name>" and "unload <name>" to the file `log`."""

    log: str

    def _note(self, what: str) -> None:
        with open(self.log, "a") as handle:
            handle.write(f"{what} {self.name}\n")

    def load(self) -> None:
        super().load()
        self._note("load")

    def unload(self) -> None:
        self._note("unload")
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:
        yield list(inputs)


class SlowLoad(Upper):
    """`Upper` whose replicas coordinate through files in `folder`. Each unit waits (30 s
    at most) until `peers` replicas have loaded, takes `unit_seconds`, and is counted. Every
    replica but the first to load waits until `join_after` units are done, then raises
    while `fail` is set, or has its process exit while the file `exits` holds a count above
    0 (one less each time, so a later try lives once it is 0)."""

    folder: str
    peers: int = 0
    join_after: int = 0
    fail: bool = False
    exits: str | None = None
    unit_seconds: float = 0.1

    def load(self) -> None:
        super().load()
        folder = Path(self.folder)
        try:
            os.close(os.open(folder / "first", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            _wait_for(lambda: len(list(folder.glob("done-*"))) >= self.join_after, "units")
            if self.fail:
                raise OSError("this node's model folder is unreadable") from None
            if self.exits and (left := int(Path(self.exits).read_text())) > 0:
                Path(self.exits).write_text(str(left - 1))
                os._exit(1)
        (folder / f"loaded-{os.getpid()}").touch()

    def process(self, inputs: StepInput) -> StepOutput:
        folder = Path(self.folder)
        _wait_for(lambda: len(list(folder.glob("loaded-*"))) >= self.peers, "replicas")
        time.sleep(self.unit_seconds)
        (folder / f"done-{os.getpid()}-{time.monotonic_ns()}").touch()
        yield from super().process(inputs)


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited 30 s for the other {what}")
        time.sleep(0.02)
