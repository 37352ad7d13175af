"""Fixtures for the mock LLM server tests: servers that always stop, and clients pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from stillroom.testing import MockLLMServer


@pytest.fixture
def start_server() -> Iterator[Callable[..., MockLLMServer]]:
    """Start a `MockLLMServer(**options)` in a background thread; stopped after the test."""
    servers: list[MockLLMServer] = []

    def start(**options: Any) -> MockLLMServer:
        server = MockLLMServer(**options).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def server(start_server: Callable[..., MockLLMServer]) -> MockLLMServer:
    """A server with the default configuration."""
    return start_server()


@pytest.fixture
def openai_client() -> Iterator[Callable[..., openai.OpenAI]]:
    """`openai_client(server, **options)`: the openai SDK on that server, no retries by default."""
    clients: list[openai.OpenAI] = []

    def make(server: MockLLMServer, **options: Any) -> openai.OpenAI:
        options = {"api_key": "dummy", "max_retries": 0, "timeout": 10.0, **options}
        clients.append(openai.OpenAI(base_url=server.base_url, **options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def http_client() -> Iterator[Callable[..., httpx.Client]]:
    """`http_client(server, **options)`: an httpx client on the server's root URL."""
    clients: list[httpx.Client] = []

    def make(server: MockLLMServer, **options: Any) -> httpx.Client:
        clients.append(httpx.Client(base_url=server.url, **{"timeout": 10.0, **options}))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
