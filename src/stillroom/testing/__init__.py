"""Test pipelines against a local OpenAI/Anthropic-compatible server with scripted faults.

    from stillroom.testing import MockLLMServer

    with MockLLMServer(latency=0.05, rate_429=0.1, retry_after=0.01) as server:
        llm = OpenAILLM(model="mock-model", base_url=server.base_url, api_key="dummy")
        ...
        assert server.stats().max_requests_per_prompt == 1

See docs/testing/mock-server.md for every option, endpoint and counter.
"""

from stillroom.testing.config import MockServerConfig
from stillroom.testing.json_schema import instance_for, invalid_instance_for
from stillroom.testing.process import ServerProcess, start_server_process
from stillroom.testing.replies import ReplyContext, count_tokens, echo_reply, prompt_key
from stillroom.testing.server import MockLLMServer
from stillroom.testing.stats import StatsSnapshot

__all__ = [
    "MockLLMServer",
    "MockServerConfig",
    "ReplyContext",
    "ServerProcess",
    "StatsSnapshot",
    "count_tokens",
    "echo_reply",
    "instance_for",
    "invalid_instance_for",
    "prompt_key",
    "start_server_process",
]
