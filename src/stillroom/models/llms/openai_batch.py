"""`OpenAILLM.offline_batch_generate`: OpenAI's Batch API (half the price, answered within 24 h).

The requests go into a JSON-lines file uploaded to `/files` (purpose "batch"), a batch is
created for it at `/batches` (endpoint `/v1/chat/completions`, window "24h") and polled at
`/batches/{id}`; once it has ended, its output file (and error file) is downloaded from
`/files/{id}/content` and each line matched to its input by `custom_id`. Every request goes
through the LLM's chain (retries, rate limits, timeout, redaction). See `offline_batch`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from stillroom.errors import StructuredOutputError
from stillroom.models.llms import offline_batch as batch
from stillroom.models.llms.resilience import FailedAttempt
from stillroom.models.llms.sending import Request
from stillroom.models.llms.structured import Sample, split_input
from stillroom.models.llms.structured_modes import StructuredOutputMode, structured_payload
from stillroom.typing import FormattedInput, GenerateOutput

if TYPE_CHECKING:
    from stillroom.models.llms.openai import OpenAILLM

CHAT_ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
RUNNING = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
"""Statuses of a batch that has not ended (a cancelling one still writes what it answered)."""


async def offline_generate(
    llm: OpenAILLM,
    inputs: list[FormattedInput] | None,
    num_generations: int,
    settings: dict[str, Any],
) -> list[GenerateOutput]:
    """Upload the input file and create the batch on the first call, else poll it
    (`offline_batch.ended_jobs` raises the not-finished exception while it runs) and read
    its output and error files."""

    async def create(checked: list[FormattedInput]) -> str:
        lines = [_line(llm, i, item, num_generations, settings) for i, item in enumerate(checked)]
        return await _create(llm, await _upload(llm, lines))

    jobs = await batch.ended_jobs(
        llm,
        inputs,
        create,
        lambda job_id: _retrieve(llm, job_id),
        lambda job: job.get("status") in RUNNING,
    )
    entries: dict[int, GenerateOutput] = {}
    failures: list[str] = []
    for job in jobs:
        failures.append(_job_problem(job))
        for file_key in ("output_file_id", "error_file_id"):
            if isinstance(job.get(file_key), str):
                for line in await _download(llm, job[file_key]):
                    _read_line(llm, line, inputs, num_generations, entries)
    count = batch.inputs_count(inputs, list(entries))
    missing = "; ".join(f for f in failures if f) or "no result for this input"
    outputs = [
        entries.get(i) or batch.failed_output(f"offline batch: {missing}", num_generations)
        for i in range(count)
    ]
    llm.jobs_ids = None  # collected: a later call creates a new batch
    return outputs


def _line(
    llm: OpenAILLM, index: int, item: FormattedInput, n: int, settings: dict[str, Any]
) -> dict[str, Any]:
    """One request of the input file: a chat completion body under its `custom_id`."""
    chat, structured = split_input(item)
    messages: list[Any] = list(chat)
    body: dict[str, Any] = {"model": llm.model, **llm._settings_payload(settings)}
    spec = llm._collector(structured, n).spec
    if spec is not None:
        messages, fields = structured_payload(_mode(llm), spec, messages)
        body.update(fields)
    body["messages"] = messages
    if n > 1:
        body["n"] = n
    return {
        "custom_id": batch.custom_id(index),
        "method": "POST",
        "url": CHAT_ENDPOINT,
        "body": body,
    }


def _mode(llm: OpenAILLM) -> StructuredOutputMode:
    """The structured-output form of batch requests: OpenAI's `json_schema` unless the LLM
    names another (the Batch API is OpenAI's: no server to probe)."""
    mode = llm.structured_output_mode
    return "json_schema" if mode == "auto" else mode


async def _upload(llm: OpenAILLM, lines: list[dict[str, Any]]) -> str:
    boundary = uuid.uuid4().hex
    content = b"\n".join(llm._json_body(line) for line in lines) + b"\n"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="stillroom-batch.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return await llm._send(
        Request(
            llm._api_url("files"),
            body,
            read=lambda data: _id_of(llm, data, "an uploaded file"),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
    )


async def _create(llm: OpenAILLM, file_id: str) -> str:
    payload = {
        "input_file_id": file_id,
        "endpoint": CHAT_ENDPOINT,
        "completion_window": COMPLETION_WINDOW,
    }
    return await llm._send(
        Request(
            llm._api_url("batches"),
            llm._json_body(payload),
            read=lambda data: _id_of(llm, data, "a batch"),
        )
    )


async def _retrieve(llm: OpenAILLM, job_id: str) -> dict[str, Any]:
    def read(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise llm._malformed("expected a batch object with a 'status'", data)
        return data

    return await llm._send(Request(llm._api_url(f"batches/{job_id}"), b"", read=read, method="GET"))


async def _download(llm: OpenAILLM, file_id: str) -> list[Any]:
    return await llm._send(
        Request(
            llm._api_url(f"files/{file_id}/content"),
            b"",
            read=lambda lines: lines,
            method="GET",
            headers={"accept": "*/*"},
            decode=batch.json_lines,
        )
    )


def _id_of(llm: OpenAILLM, data: Any, what: str) -> str:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise llm._malformed(f"expected {what} object with an 'id'", data)
    return str(data["id"])


def _job_problem(job: dict[str, Any]) -> str:
    """Why a batch that ended left inputs unanswered ('' for one that completed)."""
    status = job["status"]
    if status == "completed":
        return ""
    errors = (job.get("errors") or {}).get("data") or []
    said = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    return f"batch {job.get('id')} ended {status}" + (f": {said}" if said else "")


def _read_line(
    llm: OpenAILLM,
    line: Any,
    inputs: list[FormattedInput] | None,
    n: int,
    entries: dict[int, GenerateOutput],
) -> None:
    """Record the output of one line of an output or error file under its input's index."""
    where = batch.result_place(line, inputs, llm._label())
    if where is None:
        return
    index = where[0]
    response = line.get("response") if isinstance(line.get("response"), dict) else {}
    body = response.get("body")
    if line.get("error") or response.get("status_code") != 200:
        entries[index] = batch.failed_output(_entry_error(line, response, body), n)
        return
    structured = split_input(inputs[index])[1] if inputs else None
    collector = llm._collector(structured, n)
    mode = _mode(llm) if collector.spec is not None else None
    try:
        samples: list[Sample] = llm._samples(body, True, mode, n)
        collector.add(samples)
        entries[index] = collector.output()
    except FailedAttempt as failure:
        entries[index] = batch.failed_output(failure.failure.summary, n)
    except StructuredOutputError as exc:  # no reply matched: kept with the row
        entries[index] = batch.failed_output(str(exc), n)


def _entry_error(line: dict[str, Any], response: dict[str, Any], body: Any) -> str:
    error = line.get("error")
    if isinstance(error, dict):
        return f"batch entry failed: {error.get('code')}: {error.get('message')}"
    detail = body.get("error") if isinstance(body, dict) else None
    message = detail.get("message") if isinstance(detail, dict) else body
    return f"batch entry failed with HTTP {response.get('status_code')}: {message}"
