"""The mock server's batch APIs: OpenAI's Files and Batch API, Anthropic's Message Batches.

A batch is answered entry by entry as the matching chat endpoint would answer it (same
parsing, replies and rendering as `dialects`), once `batch_delay` seconds have passed since
it was created (read when it is polled, so a test can shorten it while a batch runs); an
entry whose prompt contains `batch_fail_marker` fails, as a partial failure. `counters`
says how many files were uploaded, batches created, polls and downloads were received.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from stillroom.testing.config import MockServerConfig
from stillroom.testing.dialects import AnthropicMessages, BadRequest, Dialect, OpenAIChat
from stillroom.testing.replies import build_generations

OPENAI_ENDPOINT = "/v1/chat/completions"
ANTHROPIC_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class BatchCounters:
    """What the batch endpoints received since the server started."""

    files_uploaded: int = 0
    batches_created: int = 0
    entries: int = 0
    """Requests in the batches created (an input's generations count one each on Anthropic)."""
    polls: int = 0
    downloads: int = 0


@dataclass
class _Job:
    id: str
    kind: str  # "openai" or "anthropic"
    entries: list[tuple[str, Any]]  # (custom_id, request body)
    created: float
    created_at: int
    input_file_id: str | None = None
    results: list[tuple[str, dict[str, Any] | None, str | None]] | None = None
    """(custom_id, reply body, error) per entry, once the batch has ended."""
    files: dict[str, str | None] = field(default_factory=dict)


class MockBatches:
    """The batch routes of one `MockLLMServer` (`config()` gives its settings in force)."""

    def __init__(self, config: Callable[[], MockServerConfig]) -> None:
        self._config = config
        self.counters = BatchCounters()
        self._files: dict[str, tuple[str, bytes]] = {}
        self._jobs: dict[str, _Job] = {}
        self._ids = itertools.count(1)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}/content", self._content, allow_head=False)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches/{batch_id}", self._retrieve, allow_head=False)
        app.router.add_post("/v1/messages/batches", self._create_messages)
        get = app.router.add_get
        get("/v1/messages/batches/{batch_id}", self._retrieve_messages, allow_head=False)
        get("/v1/messages/batches/{batch_id}/results", self._results, allow_head=False)

    # -- shared ----------------------------------------------------------------------------

    def _refused(self, request: web.Request, dialect: Dialect) -> web.Response | None:
        key = self._config().api_key
        if key is not None and not dialect.authorized(request.headers, key):
            return _error(dialect, 401, "invalid or missing API key")
        return None

    def _add(self, job: _Job) -> None:
        self._jobs[job.id] = job
        self.counters.batches_created += 1
        self.counters.entries += len(job.entries)

    def _ended(self, job: _Job) -> bool:
        """Whether `job` has ended (answering its entries the first time it has)."""
        config = self._config()
        if time.monotonic() - job.created < config.batch_delay:
            return False
        if job.results is None:
            dialect: Dialect = OpenAIChat() if job.kind == "openai" else AnthropicMessages()
            job.results = [_answer(dialect, body, config, cid) for cid, body in job.entries]
        return True

    # -- OpenAI ------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        dialect = OpenAIChat()
        if (refused := self._refused(request, dialect)) is not None:
            return refused
        if not request.content_type.startswith("multipart/form-data"):
            return _error(dialect, 400, "upload a file as multipart/form-data")
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if purpose != "batch" or not isinstance(upload, web.FileField):
            return _error(dialect, 400, "expected a 'file' and purpose 'batch'")
        content = upload.file.read()
        file_id = f"file-{next(self._ids)}"
        self._files[file_id] = ("batch", content)
        self.counters.files_uploaded += 1
        return web.json_response(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": upload.filename,
                "purpose": "batch",
            }
        )

    async def _content(self, request: web.Request) -> web.Response:
        dialect = OpenAIChat()
        if (refused := self._refused(request, dialect)) is not None:
            return refused
        found = self._files.get(request.match_info["file_id"])
        if found is None:
            return _error(dialect, 404, "no such file")
        self.counters.downloads += 1
        return web.Response(body=found[1], content_type="application/octet-stream")

    async def _create(self, request: web.Request) -> web.Response:
        dialect = OpenAIChat()
        if (refused := self._refused(request, dialect)) is not None:
            return refused
        try:
            body = json.loads(await request.read())
            entries = self._openai_entries(body)
        except ValueError as exc:
            return _error(dialect, 400, str(exc))
        job = _Job(f"batch_{next(self._ids)}", "openai", entries, time.monotonic(), _now())
        job.input_file_id = body["input_file_id"]
        self._add(job)
        return web.json_response(self._openai_batch(job))

    def _openai_entries(self, body: Any) -> list[tuple[str, Any]]:
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        if body.get("endpoint") != OPENAI_ENDPOINT:
            raise ValueError(f"endpoint: this server batches {OPENAI_ENDPOINT} only")
        if body.get("completion_window") != "24h":
            raise ValueError("completion_window: only '24h' is supported")
        found = self._files.get(str(body.get("input_file_id")))
        if found is None or found[0] != "batch":
            raise ValueError("input_file_id: no such file with purpose 'batch'")
        entries = []
        for number, line in enumerate(found[1].decode().splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if item.get("url") != OPENAI_ENDPOINT or item.get("method") != "POST":
                raise ValueError(f"line {number}: expected method POST and url {OPENAI_ENDPOINT}")
            entries.append((str(item.get("custom_id")), item.get("body")))
        _check_unique([cid for cid, _ in entries])
        return entries

    async def _retrieve(self, request: web.Request) -> web.Response:
        dialect = OpenAIChat()
        if (refused := self._refused(request, dialect)) is not None:
            return refused
        job = self._jobs.get(request.match_info["batch_id"])
        if job is None or job.kind != "openai":
            return _error(dialect, 404, "no such batch")
        self.counters.polls += 1
        return web.json_response(self._openai_batch(job))

    def _openai_batch(self, job: _Job) -> dict[str, Any]:
        ended = self._ended(job)
        if ended and not job.files:
            job.files = {
                "output_file_id": self._file([r for r in job.results or [] if r[2] is None]),
                "error_file_id": self._file([r for r in job.results or [] if r[2] is not None]),
            }
        failed = sum(1 for r in job.results or [] if r[2] is not None)
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": OPENAI_ENDPOINT,
            "errors": None,
            "input_file_id": job.input_file_id,
            "completion_window": "24h",
            "status": "completed" if ended else "in_progress",
            "output_file_id": job.files.get("output_file_id"),
            "error_file_id": job.files.get("error_file_id"),
            "created_at": job.created_at,
            "request_counts": {
                "total": len(job.entries),
                "completed": len(job.entries) - failed if ended else 0,
                "failed": failed,
            },
        }

    def _file(self, results: list[tuple[str, dict[str, Any] | None, str | None]]) -> str | None:
        """An output (or error) file of OpenAI's form for `results`; None when there are none."""
        if not results:
            return None
        lines = []
        for cid, reply, error in results:
            status, body = (200, reply) if error is None else (400, _openai_error(error))
            response = {"status_code": status, "request_id": f"req_{cid}", "body": body}
            lines.append({"id": f"batch_req_{cid}", "custom_id": cid, "response": response})
        file_id = f"file-{next(self._ids)}"
        content = "".join(json.dumps(line) + "\n" for line in lines).encode()
        self._files[file_id] = ("batch_output", content)
        return file_id

    # -- Anthropic ---------------------------------------------------------------------------

    async def _create_messages(self, request: web.Request) -> web.Response:
        dialect = AnthropicMessages()
        if (refused := self._refused(request, dialect)) is not None:
            return refused
        try:
            body = json.loads(await request.read())
            requests = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(requests, list) or not requests:
                raise ValueError("requests: must be a non-empty list")
            entries = [(str(r.get("custom_id")), r.get("params")) for r in requests]
            _check_unique([cid for cid, _ in entries])
        except (ValueError, AttributeError) as exc:
            return _error(dialect, 400, str(exc))
        bad = [cid for cid, _ in entries if not ANTHROPIC_CUSTOM_ID.match(cid)]
        if bad:
            return _error(dialect, 400, f"custom_id {bad[0]!r}: must match [a-zA-Z0-9_-]{{1,64}}")
        job = _Job(f"msgbatch_{next(self._ids)}", "anthropic", entries, time.monotonic(), _now())
        self._add(job)
        return web.json_response(self._message_batch(job, request))

    async def _retrieve_messages(self, request: web.Request) -> web.Response:
        dialect = AnthropicMessages()
        if (refused := self._refused(request, dialect)) is not None:
            return refused
        job = self._jobs.get(request.match_info["batch_id"])
        if job is None or job.kind != "anthropic":
            return _error(dialect, 404, "no such message batch")
        self.counters.polls += 1
        return web.json_response(self._message_batch(job, request))

    def _message_batch(self, job: _Job, request: web.Request) -> dict[str, Any]:
        ended = self._ended(job)
        failed = sum(1 for r in job.results or [] if r[2] is not None)
        url = f"{request.url.origin()}/v1/messages/batches/{job.id}/results"
        return {
            "id": job.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else len(job.entries),
                "succeeded": len(job.entries) - failed if ended else 0,
                "errored": failed,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": job.created_at,
            "cancel_initiated_at": None,
            "results_url": url if ended else None,
        }

    async def _results(self, request: web.Request) -> web.Response:
        dialect = AnthropicMessages()
        if (refused := self._refused(request, dialect)) is not None:
            return refused
        job = self._jobs.get(request.match_info["batch_id"])
        if job is None or job.kind != "anthropic" or job.results is None:
            return _error(dialect, 404, "no results for this message batch (yet)")
        self.counters.downloads += 1
        lines = []
        for cid, reply, error in job.results:
            if error is None:
                result: dict[str, Any] = {"type": "succeeded", "message": reply}
            else:
                inner = {"type": "invalid_request_error", "message": error}
                result = {"type": "errored", "error": {"type": "error", "error": inner}}
            lines.append(json.dumps({"custom_id": cid, "result": result}) + "\n")
        return web.Response(body="".join(lines).encode(), content_type="application/binary")


def _answer(
    dialect: Dialect, body: Any, config: MockServerConfig, custom_id: str
) -> tuple[str, dict[str, Any] | None, str | None]:
    """(custom_id, reply, None) for an entry the chat endpoint would answer, else
    (custom_id, None, why not)."""
    try:
        parsed = dialect.parse(body)
    except BadRequest as exc:
        return custom_id, None, str(exc)
    marker = config.batch_fail_marker
    if marker and marker in parsed.prompt:
        return custom_id, None, f"mock batch failure (the prompt contains {marker!r})"
    generations = build_generations(parsed, config.reply, 1)
    return custom_id, dialect.render(parsed, generations, f"batch-{custom_id}"), None


def _check_unique(custom_ids: list[str]) -> None:
    seen: set[str] = set()
    for cid in custom_ids:
        if cid in seen:
            raise ValueError(f"custom_id {cid!r} appears twice; each must be unique")
        seen.add(cid)


def _openai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


def _error(dialect: Dialect, status: int, message: str) -> web.Response:
    return web.json_response(dialect.error(status, message), status=status)


def _now() -> int:
    return int(time.time())
