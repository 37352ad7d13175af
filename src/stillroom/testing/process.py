"""Run the mock server in a child process, so it does not share the GIL with the client.

Benchmarks use this: a client measured against an in-process server would pay for the
server's CPU time too. The child is started with `--exit-on-stdin-eof`, so it stops by itself
if the parent dies without calling `stop()`.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import stillroom
from stillroom.testing.config import API_KEY_ENV, MockServerConfig, config_to_arguments
from stillroom.testing.stats import StatsSnapshot

ADMIN_TIMEOUT = 10.0
"""Seconds allowed for a `/_stats`, `/_reset` or `/_config` call."""


class ServerProcess:
    """A mock server running in a child process; read its counters over HTTP, then `stop()` it."""

    def __init__(self, process: subprocess.Popen[bytes], base_url: str, stderr: IO[bytes]) -> None:
        self.process = process
        self.base_url = base_url
        """OpenAI-style base URL ending in /v1."""
        self.url = base_url.removesuffix("/v1")
        """Root URL, for Anthropic clients."""
        self.port = urlsplit(base_url).port or 0
        self._stderr = stderr

    def __repr__(self) -> str:
        return f"ServerProcess(pid={self.process.pid}, base_url={self.base_url!r})"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self, include_prompts: bool = True) -> StatsSnapshot:
        """The child's counters (`GET /_stats`)."""
        path = "/_stats" if include_prompts else "/_stats?prompts=0"
        return StatsSnapshot.from_dict(self._call("GET", path))

    def reset(self) -> None:
        """Zero the child's counters and prompt attempts (`POST /_reset`)."""
        self._call("POST", "/_reset")

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change the child's behaviour while it runs (`POST /_config`); returns the new settings."""
        settings: dict[str, Any] = self._call("POST", "/_config", options)
        return settings

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=ADMIN_TIMEOUT)
        try:
            body = json.dumps(payload).encode() if payload is not None else None
            headers = {"content-type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = json.loads(response.read())
        finally:
            connection.close()
        if response.status != 200:
            message = data.get("error", {}).get("message", data)
            raise RuntimeError(f"Mock server {method} {path} failed ({response.status}): {message}")
        return data

    def stop(self, timeout: float = 10.0) -> int:
        """Ask the child to stop (closing its stdin), kill it if it does not; returns its exit code."""
        if self.process.poll() is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server_process(
    config: MockServerConfig | None = None,
    *,
    port: int = 0,
    startup_timeout: float = 30.0,
    **options: Any,
) -> ServerProcess:
    """Start `python -m stillroom.testing` with this configuration and wait for its URL.

    Options are `MockServerConfig` fields; a reply must be a template string here (a function
    cannot cross the process boundary). The API key travels by environment, never argv.
    """
    config = MockServerConfig.from_options(config, **options)
    argv = [sys.executable, "-m", "stillroom.testing", "--port", str(port), "--exit-on-stdin-eof"]
    argv += config_to_arguments(config)
    env = dict(os.environ)
    source_root = str(Path(stillroom.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    env.pop(API_KEY_ENV, None)
    if config.api_key is not None:
        env[API_KEY_ENV] = config.api_key

    stderr = tempfile.TemporaryFile()  # noqa: SIM115 (owned by the ServerProcess, closed in stop())
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
    )
    first_line: list[bytes] = []
    stdout = process.stdout
    assert stdout is not None  # stdout=PIPE above
    reader = threading.Thread(target=lambda: first_line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=startup_timeout)
    url = first_line[0].decode().strip() if first_line else ""
    if not url.startswith("http://"):
        process.kill()
        process.wait(timeout=startup_timeout)
        stderr.seek(0)
        detail = stderr.read().decode(errors="replace").strip()[-2000:]
        stderr.close()
        raise RuntimeError(
            f"The mock server process did not start within {startup_timeout} s "
            f"(exit code {process.returncode}). Its error output:\n{detail or '(empty)'}"
        )
    return ServerProcess(process, url, stderr)
