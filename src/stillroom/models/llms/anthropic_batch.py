"""`AnthropicLLM.offline_batch_generate`: Anthropic's Message Batches (half the price,
answered within 24 h).

Every generation of every input is one Messages request under its own `custom_id` in a
batch created at `POST /v1/messages/batches`; the batch is polled at
`GET /v1/messages/batches/{id}` until its `processing_status` is "ended", then its
`results_url` (JSON lines, in any order) is downloaded and each result matched to its
input. Every request goes through the LLM's chain (retries, rate limits, timeout,
redaction). See `offline_batch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.errors import StructuredOutputError
from stillroom.models.llms import offline_batch as batch
from stillroom.models.llms.resilience import FailedAttempt
from stillroom.models.llms.sending import Request
from stillroom.models.llms.structured import Sample, split_input
from stillroom.typing import FormattedInput, GenerateOutput

if TYPE_CHECKING:
    from stillroom.models.llms.anthropic import AnthropicLLM


async def offline_generate(
    llm: AnthropicLLM,
    inputs: list[FormattedInput] | None,
    num_generations: int,
    settings: dict[str, Any],
) -> list[GenerateOutput]:
    """Create the message batch on the first call, else poll it (`offline_batch.ended_jobs`
    raises the not-finished exception while it runs) and read its results file."""

    async def create(checked: list[FormattedInput]) -> str:
        requests = [
            {"custom_id": batch.custom_id(i, g), "params": llm._payload(item, settings)}
            for i, item in enumerate(checked)
            for g in range(num_generations)
        ]
        return await _create(llm, requests)

    jobs = await batch.ended_jobs(
        llm,
        inputs,
        create,
        lambda job_id: _retrieve(llm, job_id),
        lambda job: job["processing_status"] != "ended",
    )
    results: dict[int, dict[int, Sample | str]] = {}
    for job in jobs:
        if isinstance(job.get("results_url"), str):
            for line in await _download(llm, job["results_url"]):
                _read_line(llm, line, inputs, results)
    count = batch.inputs_count(inputs, list(results))
    outputs = [_output(llm, results.get(i, {}), inputs, i, num_generations) for i in range(count)]
    llm.jobs_ids = None  # collected: a later call creates a new batch
    return outputs


async def _create(llm: AnthropicLLM, requests: list[dict[str, Any]]) -> str:
    def read(data: Any) -> str:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise llm._malformed("expected a message batch object with an 'id'", data)
        return str(data["id"])

    return await llm._send(
        Request(llm._api_url("messages/batches"), llm._json_body({"requests": requests}), read)
    )


async def _retrieve(llm: AnthropicLLM, job_id: str) -> dict[str, Any]:
    def read(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("processing_status"), str):
            raise llm._malformed("expected a message batch object with a 'processing_status'", data)
        return data

    url = llm._api_url(f"messages/batches/{job_id}")
    return await llm._send(Request(url, b"", read=read, method="GET"))


async def _download(llm: AnthropicLLM, url: str) -> list[Any]:
    return await llm._send(
        Request(url, b"", read=lambda lines: lines, method="GET", decode=batch.json_lines)
    )


def _read_line(
    llm: AnthropicLLM,
    line: Any,
    inputs: list[FormattedInput] | None,
    results: dict[int, dict[int, Sample | str]],
) -> None:
    """Record one result (a sample, or why there is none) under its input and generation."""
    where = batch.result_place(line, inputs, llm._label())
    if where is None:
        return
    index, generation = where
    result = line.get("result") if isinstance(line.get("result"), dict) else {}
    kind = result.get("type")
    slot = results.setdefault(index, {})
    if kind == "succeeded":
        structured = split_input(inputs[index])[1] if inputs else None
        spec = llm._collector(structured, 1).spec
        try:
            slot[generation] = llm._sample(result.get("message"), spec)
        except FailedAttempt as failure:
            slot[generation] = failure.failure.summary
    elif kind == "errored":
        outer = result.get("error")
        inner = outer.get("error") if isinstance(outer, dict) else None
        error = inner if isinstance(inner, dict) else outer if isinstance(outer, dict) else {}
        slot[generation] = f"batch entry failed: {error.get('type')}: {error.get('message')}"
    else:
        slot[generation] = f"batch entry {kind or 'without a result'}: no reply"


def _output(
    llm: AnthropicLLM,
    found: dict[int, Sample | str],
    inputs: list[FormattedInput] | None,
    index: int,
    n: int,
) -> GenerateOutput:
    """One input's output from its generations' results (an error for each one missing)."""
    samples = [found.get(g) for g in range(n)]
    errors = [s if isinstance(s, str) else "no result for this input" for s in samples]
    if not any(isinstance(s, Sample) for s in samples):
        return batch.failed_output(errors[0], n)
    structured = split_input(inputs[index])[1] if inputs else None
    collector = llm._collector(structured, n)
    collector.add([s for s in samples if isinstance(s, Sample)])
    collector.errors.extend(
        e for s, e in zip(samples, errors, strict=True) if not isinstance(s, Sample)
    )
    try:
        return collector.output()
    except StructuredOutputError as exc:  # no reply matched: kept with the row
        return batch.failed_output(str(exc), n)
