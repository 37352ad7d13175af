"""The three ways to run the server: a background thread, the current event loop, a child process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

import stillroom
from stillroom.testing import MockLLMServer, MockServerConfig, start_server_process
from stillroom.testing.config import API_KEY_ENV

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "hi"}]


def test_thread_mode_urls_and_restart_on_a_new_port() -> None:
    server = MockLLMServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.base_url}/models").status_code == 200
        with pytest.raises(RuntimeError, match="already running"):
            server.__enter__()
    with server:  # a stopped server can be started again
        assert httpx.get(f"{server.base_url}/models").status_code == 200


def test_thread_mode_reports_a_port_already_in_use() -> None:
    with MockLLMServer() as first, pytest.raises(OSError), MockLLMServer(port=first.port):
        pass


def test_async_mode_on_the_running_loop() -> None:
    async def main() -> tuple[str, int]:
        async with MockLLMServer(latency=0.01) as server:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="dummy", max_retries=0)
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": str(i)}]
                    )
                    for i in range(5)
                )
            )
            await client.close()
            stats = server.stats()
            assert stats.successes == 5
            return replies[3].choices[0].message.content, stats.max_in_flight

    text, max_in_flight = asyncio.run(main())
    assert text == "echo: 3" and max_in_flight == 5


def test_subprocess_mode(openai_client) -> None:
    with start_server_process(
        latency=0.01, fail_first=1, api_key="sk-child", reply="child: {prompt}"
    ) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        client = openai.OpenAI(
            base_url=server.base_url, api_key="sk-child", max_retries=0, timeout=10
        )
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=USER)
        assert (
            client.chat.completions.create(model="m", messages=USER).choices[0].message.content
            == "child: hi"
        )
        stats = server.stats()
        assert stats.requests_by_prompt == {"hi": 2} and stats.errors_by_status == {500: 1}
        assert stats.mean_latency == pytest.approx(0.01)
        assert "sk-child" not in " ".join(server.process.args)  # the key went by environment
        server.configure(rate_429=1.0)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=USER)
        server.reset()
        assert server.stats().requests_total == 0
        with pytest.raises(RuntimeError, match="Unknown mock server option"):
            server.configure(nope=1)
    assert server.process.returncode == 0


def test_subprocess_refuses_a_reply_function() -> None:
    with pytest.raises(ValueError, match="reply function cannot be sent"):
        start_server_process(reply=lambda context: "x")


def run_cli(*args: str, stdin: bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    source_root = str(Path(stillroom.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": source_root, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "stillroom.testing", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=30,
    )


def test_cli_prints_its_url_first_and_exits_when_stdin_closes() -> None:
    done = run_cli("--port", "0", "--exit-on-stdin-eof", "--latency", "0.1", "--models", "a", "b")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.decode().splitlines()
    assert line.startswith("http://127.0.0.1:") and line.endswith("/v1")


def test_cli_rejects_a_bad_configuration() -> None:
    done = run_cli("--rate-429", "1.5", "--exit-on-stdin-eof")
    assert done.returncode == 2
    assert "rate_429 must be between 0 and 1" in done.stderr.decode()


def test_cli_stops_on_sigterm() -> None:
    source_root = str(Path(stillroom.__file__).resolve().parents[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "stillroom.testing", "--api-key", "k"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": source_root},
    )
    try:
        url = process.stdout.readline().decode().strip()
        assert httpx.get(f"{url}/models", headers={"authorization": "Bearer k"}).status_code == 200
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.stdout.close()


def test_cli_flags_round_trip_the_configuration() -> None:
    from stillroom.testing.__main__ import build_parser
    from stillroom.testing.config import config_from_arguments, config_to_arguments

    config = MockServerConfig(
        latency=0.5, latency_sigma=1, rate_429=0.1, retry_after=1.5, fail_first=2, fail_with="hang",
        reject_n=True, models=("x", "y"), reply="{prompt}!", api_key="secret",
    )  # fmt: skip
    argv = config_to_arguments(config)
    assert "secret" not in argv
    args = build_parser().parse_args(argv)
    assert config_from_arguments(args, environ={API_KEY_ENV: "secret"}) == config
    assert config_from_arguments(build_parser().parse_args([]), environ={}) == MockServerConfig()
