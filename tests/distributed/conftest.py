"""One Ray cluster for the whole test session: a head node and a second raylet on 127.0.0.1
(one CPU each, `cluster.py`), stopped by PID at its end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stillroom.testing import MockLLMServer
from stillroom.testing.ray_cluster import LocalCluster, free_ports


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalCluster]:
    """The two-node cluster, this process connected to it as the driver (the pipelines use
    that connection and do not shut it down)."""
    ray = pytest.importorskip("ray")
    import ray_steps

    ray_steps.ship_by_value()
    cluster = LocalCluster(head_cpus=1)
    try:
        cluster.add_node("second", cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.stop()


@pytest.fixture
def ray_address(ray_cluster: LocalCluster) -> str:
    return ray_cluster.address


@pytest.fixture
def server() -> Iterator[MockLLMServer]:
    """The mock OpenAI-compatible server on 127.0.0.1, answering with `ray_steps.answer`."""
    from ray_steps import answer

    with MockLLMServer(reply=answer) as running:
        yield running


@pytest.fixture
def s3_options() -> Iterator[dict[str, Any]]:
    """A bucket on moto's S3 server, and the fsspec options that reach it."""
    from moto.server import ThreadedMotoServer

    (port,) = free_ports(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        options = {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {
                "endpoint_url": f"http://127.0.0.1:{port}",
                "region_name": "us-east-1",
            },
        }
        import boto3

        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="stillroom-state")
        yield options
    finally:
        server.stop()
