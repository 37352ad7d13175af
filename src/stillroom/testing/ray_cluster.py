"""A real Ray cluster on 127.0.0.1 for tests and benchmarks: a head node and more raylets,
each started with `ray start`, on ports found free, in a private temporary directory.

Every process the cluster starts carries that directory in its command line; they are found
by it and stopped by PID (never `ray stop`, which would stop every Ray on the machine). A
node can be killed alone (its raylet and its workers, by PID) to test what a run does when it loses one.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT = 90
FAST_FAILURE_DETECTION = {
    # a lost node is noticed in about 1.5 s rather than Ray's default 15 s
    "health_check_initial_delay_ms": 500,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
}


WORKER_PORTS = 41
"""Ports each node's worker processes may listen on."""
WORKER_PORT_RANGE = (20000, 32000 - WORKER_PORTS)
"""Where those blocks are taken from: below Linux's ephemeral range (32768-60999)."""


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (held open together, so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class LocalCluster:
    """`ray start --head` plus `add_node()` raylets on this machine; `stop()` ends them all."""

    def __init__(self, head_cpus: int = 1) -> None:
        # short: Ray's socket paths under it must stay under 107 characters
        self.temp_dir = tempfile.mkdtemp(prefix="srw-", dir="/tmp")
        self.node_ports: dict[str, int] = {}
        self._worker_blocks: list[int] = []
        self.environment = {
            "RAY_USAGE_STATS_ENABLED": "0",
            # a token someone made for their own cluster is not this one's
            "RAY_AUTH_TOKEN_PATH": os.path.join(self.temp_dir, "no-token"),
            "RAY_AUTH_MODE": "disabled",
        }
        (self.port,) = free_ports(1)
        self.address = f"127.0.0.1:{self.port}"
        try:
            self._start(
                [
                    "--head",
                    f"--port={self.port}",
                    "--include-dashboard=false",
                    f"--system-config={json.dumps(FAST_FAILURE_DETECTION)}",
                ],
                head_cpus,
                "head",
            )
        except BaseException:  # what did start is stopped, its directory removed
            self.stop()
            raise

    def _start(self, arguments: list[str], cpus: int, name: str, resources: str = "{}") -> None:
        manager, objects, agent, agent_grpc, metrics, env, client, dashboard = free_ports(8)
        low = self._worker_ports()
        command = [
            RAY,
            "start",
            *arguments,
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            f"--resources={resources}",
            f"--temp-dir={self.temp_dir}",
            f"--node-manager-port={manager}",
            f"--object-manager-port={objects}",
            f"--dashboard-agent-listen-port={agent}",
            f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--metrics-export-port={metrics}",
            f"--runtime-env-agent-port={env}",
            f"--ray-client-server-port={client}",
            f"--dashboard-port={dashboard}",
            f"--min-worker-port={low}",
            f"--max-worker-port={low + WORKER_PORTS - 1}",
            "--disable-usage-stats",
        ]
        environment = {**os.environ, **self.environment}
        done = subprocess.run(
            command, timeout=START_TIMEOUT, env=environment, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"ray start failed for node {name!r}:\n{done.stderr[-3000:]}")
        self.node_ports[name] = manager

    def _worker_ports(self) -> int:
        """The first of `WORKER_PORTS` free ports for a node's workers, below the range the
        system picks free ports from (`free_ports`, and every outgoing connection), so that
        no other node's port, chosen later, falls among them before a worker binds it."""
        for _ in range(100):
            low = random.randrange(*WORKER_PORT_RANGE)
            block = range(low, low + WORKER_PORTS)
            if any(
                other in block or low in range(other, other + WORKER_PORTS)
                for other in self._worker_blocks
            ):
                continue
            if all(_bindable(port) for port in block):
                self._worker_blocks.append(low)
                return low
        raise RuntimeError(f"no {WORKER_PORTS} free ports in a row in {WORKER_PORT_RANGE}")

    def add_node(self, name: str, cpus: int = 1, resources: str = "{}") -> None:
        self._start([f"--address={self.address}"], cpus, name, resources)

    def processes(self) -> list[Any]:
        """Every process of this cluster, as `psutil.Process`es: those with its private
        directory in their command line, and their children (Ray's agents retitle
        themselves, dropping the directory from theirs, and outlive a killed raylet)."""
        import psutil  # type: ignore[import-untyped]

        found: dict[int, Any] = {}
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if self.temp_dir in cmdline and process.pid != os.getpid():
                found[process.pid] = process
                with contextlib.suppress(psutil.Error):
                    found.update((child.pid, child) for child in process.children(recursive=True))
        found.pop(os.getpid(), None)
        return list(found.values())

    def raylet(self, name: str) -> Any:
        port = f"--node_manager_port={self.node_ports[name]}"
        import psutil

        for process in self.processes():
            try:
                cmdline = process.cmdline()
            except psutil.Error:
                continue
            if any(part.endswith("/raylet") for part in cmdline[:1]) and port in cmdline:
                return process
        raise LookupError(f"no raylet for node {name!r}")

    def kill_node(self, name: str) -> None:
        """SIGKILL a node's raylet and every process it started, at once, as when the
        machine goes away. (Killing the raylet alone leaves its workers running for a
        moment: a replica there would go on sending requests after it was replaced.)"""
        import psutil

        raylet = self.raylet(name)
        doomed = [*raylet.children(recursive=True), raylet]
        for process in doomed:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGKILL every process of the cluster (a test cluster has nothing to save), wait
        for them to go (10 s at most), remove its directory."""
        import psutil

        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
