"""Counters (in-process and over HTTP), in-flight tracking, keep-alive and runtime configuration."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

from stillroom.testing import StatsSnapshot, prompt_key

pytestmark = pytest.mark.timeout(30)


def chat(text: str, **extra) -> dict:
    return {"model": "mock-model", "messages": [{"role": "user", "content": text}], **extra}


def test_counters_cover_every_outcome(start_server, http_client) -> None:
    server = start_server(fail_first=1, fail_with="503")
    client = http_client(server)
    for prompt in ("a", "b", "a"):
        client.post("/v1/chat/completions", json=chat(prompt, n=2))
    client.post("/v1/chat/completions", content=b"{not json")
    client.get("/v1/models")
    stats = server.stats()
    assert stats.requests_total == 4
    assert stats.requests_by_endpoint == {"chat.completions": 4}
    assert stats.requests_by_prompt == {"a": 2, "b": 1}
    assert (stats.distinct_prompts, stats.max_requests_per_prompt) == (2, 2)
    assert (stats.successes, stats.generations) == (1, 2)
    assert stats.errors_by_status == {503: 2, 400: 1} and stats.errors_total == 3
    assert (stats.prompt_tokens, stats.completion_tokens) == (1, 2 + 3)
    assert stats.connections == 1


def test_stats_and_reset_over_http(server, http_client) -> None:
    client = http_client(server)
    client.post("/v1/chat/completions", json=chat("hello there"))
    data = client.get("/_stats").json()
    assert data["requests_by_prompt"] == {"hello there": 1}
    assert data["successes"] == 1 and data["errors_total"] == 0 and data["mean_latency"] == 0.0
    assert StatsSnapshot.from_dict(data) == server.stats()
    summary = client.get("/_stats", params={"prompts": "0"}).json()
    assert summary["requests_by_prompt"] == {} and summary["distinct_prompts"] == 1
    assert client.post("/_reset").json() == {"reset": True}
    assert server.stats().requests_total == 0 and server.stats().requests_by_prompt == {}


def test_snapshot_round_trips_through_json_data() -> None:
    snapshot = StatsSnapshot(
        requests_total=3, errors_by_status={429: 2}, requests_by_prompt={"p": 3}
    )
    data = snapshot.as_dict()
    assert data["errors_by_status"] == {"429": 2} and data["errors_total"] == 2
    assert StatsSnapshot.from_dict(data) == snapshot


def test_max_in_flight_counts_concurrent_requests(start_server) -> None:
    server = start_server(latency=0.5)

    async def burst() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            await asyncio.gather(
                *(client.post("/v1/chat/completions", json=chat(f"p{i}")) for i in range(20))
            )

    asyncio.run(burst())
    stats = server.stats()
    assert (stats.max_in_flight, stats.in_flight, stats.successes) == (20, 0, 20)
    server.reset()
    assert server.stats().max_in_flight == 0


def test_keep_alive_reuses_one_connection_and_close_is_honoured(server, http_client) -> None:
    client = http_client(server)
    for i in range(10):
        assert client.post("/v1/chat/completions", json=chat(str(i))).status_code == 200
    assert server.stats().connections == 1
    response = client.post("/v1/chat/completions", json=chat("x"), headers={"connection": "close"})
    assert response.headers["connection"] == "close"
    client.post("/v1/chat/completions", json=chat("y"))
    assert server.stats().connections == 2


def test_prompt_key_matches_the_server(server, http_client) -> None:
    conversation = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    http_client(server).post("/v1/chat/completions", json={"model": "m", "messages": conversation})
    assert server.stats().requests_by_prompt == {prompt_key(conversation): 1}
    assert prompt_key([{"role": "user", "content": "only"}]) == "only"


def test_configure_changes_behaviour_at_runtime(server, http_client) -> None:
    client = http_client(server)
    server.configure(rate_500=1.0)
    assert client.post("/v1/chat/completions", json=chat("a")).status_code == 500
    settings = client.post("/_config", json={"rate_500": 0, "reply": "ok {index}"}).json()
    assert settings["rate_500"] == 0 and server.config.reply == "ok {index}"
    assert (
        client.post("/v1/chat/completions", json=chat("a")).json()["choices"][0]["message"][
            "content"
        ]
        == "ok 0"
    )
    bad = client.post("/_config", json={"rate_5OO": 1})
    assert bad.status_code == 400 and "Did you mean 'rate_500'" in bad.json()["error"]["message"]
    assert client.post("/_config", json={"rate_429": 2}).status_code == 400


def test_socket_settings_cannot_change_while_running(server) -> None:
    with pytest.raises(ValueError, match="idle_timeout cannot change while the server runs"):
        server.configure(idle_timeout=5)
    assert server.config.idle_timeout == 60


def test_unknown_routes_and_methods(server, http_client) -> None:
    client = http_client(server)
    assert client.get("/v1/nothing").status_code == 404
    response = client.get("/v1/chat/completions")
    assert response.status_code == 405 and "accepts POST" in response.json()["error"]["message"]


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: h\r\ncontent-length: 999999999\r\n\r\n",
            b"413",
        ),
        (b"GET /v1/models HTTP/1.1\r\nhost: h\r\nx: " + b"a" * 70_000 + b"\r\n\r\n", b"400"),
    ],
)
def test_unreadable_requests_get_an_error_and_a_closed_connection(server, data, status) -> None:
    response = raw_exchange(server.port, data)  # returns only once the server has closed
    assert response.split(b" ", 2)[1] == status


def test_a_chunked_body_is_read(server) -> None:
    body = json.dumps(chat("chunked")).encode()
    data = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: h\r\nconnection: close\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:]))
        + b"0\r\n\r\n"
    )
    response = raw_exchange(server.port, data)
    assert response.startswith(b"HTTP/1.1 200") and b"echo: chunked" in response


def test_http_1_0_closes_after_the_reply(server) -> None:
    response = raw_exchange(server.port, b"GET /v1/models HTTP/1.0\r\n\r\n")
    assert response.startswith(b"HTTP/1.0 200") and b"mock-model" in response


def test_idle_connections_are_closed(start_server) -> None:
    server = start_server(idle_timeout=0.2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        assert sock.recv(1) == b""  # closed by the server, not by our 5 s timeout


def test_a_server_bug_still_gets_an_answer(server, http_client, monkeypatch) -> None:
    from stillroom.testing.dialects import OpenAIChat

    def broken(*args, **kwargs):
        raise RuntimeError("render bug")

    monkeypatch.setattr(OpenAIChat, "render", broken)
    client = http_client(server)
    response = client.post("/v1/chat/completions", json=chat("x"))
    assert response.status_code == 500 and "render bug" in response.json()["error"]["message"]
    assert client.get("/v1/models").status_code == 200  # the connection and server live on
