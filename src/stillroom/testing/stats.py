"""What the mock server counts, and the snapshot tests read.

`ServerStats` is mutated only on the server's event loop; readers get a `StatsSnapshot`,
a frozen copy that is the same whether it was taken in-process or fetched from
`GET /_stats` of a server in another process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class StatsSnapshot:
    """The server's counters at one moment.

    Only requests to the LLM endpoints (`/v1/chat/completions`, `/v1/completions`,
    `/v1/messages`) are counted; `GET /v1/models` and the `/_` admin routes are not.
    """

    requests_total: int = 0
    """Every LLM request received, whatever its outcome."""
    requests_by_endpoint: dict[str, int] = field(default_factory=dict)
    """Requests per API: "chat.completions", "completions", "messages"."""
    requests_by_prompt: dict[str, int] = field(default_factory=dict)
    """Requests per distinct prompt (see `prompt_key`), failed attempts included.
    Left empty when the snapshot was asked for without prompts."""
    distinct_prompts: int = 0
    """How many different prompts were requested."""
    max_requests_per_prompt: int = 0
    """The most requests any single prompt received (1 means no prompt was sent twice)."""
    successes: int = 0
    """Requests answered 200."""
    generations: int = 0
    """Choices returned by successful requests (n per request)."""
    errors_by_status: dict[int, int] = field(default_factory=dict)
    """Error responses per HTTP status (400, 401, 429, 500, ...)."""
    hangs: int = 0
    """Requests that were never answered (hang faults)."""
    crashes: int = 0
    """Requests whose connection was dropped without a response (crash faults)."""
    in_flight: int = 0
    """LLM requests being handled right now."""
    max_in_flight: int = 0
    """Most LLM requests handled at the same time since start or the last reset."""
    prompt_tokens: int = 0
    """Prompt tokens reported in the usage of successful replies."""
    completion_tokens: int = 0
    """Completion tokens reported in the usage of successful replies."""
    latency_total: float = 0.0
    """Sum of the latencies the server applied, in seconds."""
    latency_count: int = 0
    """How many requests waited a latency (those that passed authentication and validation)."""
    connections: int = 0
    """TCP connections accepted (low when clients keep connections alive)."""
    images_received: int = 0
    """Image parts in the chat requests that passed validation."""

    @property
    def errors_total(self) -> int:
        """All error responses."""
        return sum(self.errors_by_status.values())

    @property
    def mean_latency(self) -> float:
        """Mean latency applied per request, in seconds (0 before any request)."""
        return self.latency_total / self.latency_count if self.latency_count else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data, derived figures included (what `GET /_stats` returns)."""
        data = asdict(self)
        data["errors_by_status"] = {str(k): v for k, v in self.errors_by_status.items()}
        data.update(errors_total=self.errors_total, mean_latency=self.mean_latency)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatsSnapshot:
        """Rebuild a snapshot from `as_dict()` output (derived figures are recomputed)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["errors_by_status"] = {
            int(k): v for k, v in data.get("errors_by_status", {}).items()
        }
        return cls(**values)


class ServerStats:
    """The live counters; touched only from the server's event loop."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero every counter except the requests in flight right now."""
        self.requests_total = 0
        self.requests_by_endpoint: dict[str, int] = {}
        self.requests_by_prompt: dict[str, int] = {}
        self.replies_by_prompt: dict[str, int] = {}
        self.successes = 0
        self.generations = 0
        self.errors_by_status: dict[int, int] = {}
        self.hangs = 0
        self.crashes = 0
        self.max_in_flight = self.in_flight
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.latency_total = 0.0
        self.latency_count = 0
        self.connections = 0
        self.images_received = 0

    def count_request(self, endpoint: str) -> None:
        self.requests_total += 1
        self.requests_by_endpoint[endpoint] = self.requests_by_endpoint.get(endpoint, 0) + 1

    def count_attempt(self, key: str) -> int:
        """Record one more request for this prompt; returns its attempt number (1 for the first)."""
        attempt = self.requests_by_prompt.get(key, 0) + 1
        self.requests_by_prompt[key] = attempt
        return attempt

    def count_reply(self, key: str) -> int:
        """Record one more successful reply for this prompt; returns how many it has had."""
        replies = self.replies_by_prompt.get(key, 0) + 1
        self.replies_by_prompt[key] = replies
        return replies

    def count_error(self, status: int) -> None:
        self.errors_by_status[status] = self.errors_by_status.get(status, 0) + 1

    def enter(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        self.in_flight -= 1

    def snapshot(self, include_prompts: bool = True) -> StatsSnapshot:
        """A frozen copy; `include_prompts=False` leaves out the per-prompt counts (large runs)."""
        return StatsSnapshot(
            requests_total=self.requests_total,
            requests_by_endpoint=dict(self.requests_by_endpoint),
            requests_by_prompt=dict(self.requests_by_prompt) if include_prompts else {},
            distinct_prompts=len(self.requests_by_prompt),
            max_requests_per_prompt=max(self.requests_by_prompt.values(), default=0),
            successes=self.successes,
            generations=self.generations,
            errors_by_status=dict(self.errors_by_status),
            hangs=self.hangs,
            crashes=self.crashes,
            in_flight=self.in_flight,
            max_in_flight=self.max_in_flight,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            latency_total=self.latency_total,
            latency_count=self.latency_count,
            connections=self.connections,
            images_received=self.images_received,
        )
