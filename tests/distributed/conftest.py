"""One local Ray instance (2 CPUs) for the whole test session, shut down at its end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stillroom.testing import MockLLMServer


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """Start Ray once; tests connect RayPipelines to it (the pipelines do not shut it down)."""
    ray = pytest.importorskip("ray")
    import ray_steps

    ray_steps.ship_by_value()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture
def server() -> Iterator[MockLLMServer]:
    """The mock OpenAI-compatible server on 127.0.0.1, answering with `ray_steps.answer`."""
    from ray_steps import answer

    with MockLLMServer(reply=answer) as running:
        yield running
