"""The dialects of TGI, Ollama, Cohere and Gemini: their own forms, and what they refuse."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(30)

GEMINI = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-x:generateContent"


def test_tgi_text_generation_with_details_and_a_grammar(server, http_client) -> None:
    client = http_client(server)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = {
        "inputs": "count to three",
        "parameters": {"grammar": {"type": "json", "value": schema}, "decoder_input_details": True},
    }
    for path in ("/", "/generate"):
        reply = client.post(path, json=body).json()
        assert isinstance(reply["generated_text"], str) and '"n"' in reply["generated_text"]
        assert len(reply["details"]["prefill"]) == 3
    assert client.post("/", json={"inputs": ["a"]}).status_code == 400
    regex = {"inputs": "x", "parameters": {"grammar": {"type": "regex", "value": "a+"}}}
    assert client.post("/", json=regex).status_code == 400


def test_ollama_chat_and_raw_generate(server, http_client) -> None:
    client = http_client(server)
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi there"}], "stream": False}
    reply = client.post("/api/chat", json=chat).json()
    assert reply["message"]["content"] == "echo: hi there"
    assert (reply["prompt_eval_count"], reply["eval_count"]) == (2, 3)
    raw = {"model": "m", "prompt": "<|im_start|>user\n", "raw": True, "stream": False}
    assert "response" in client.post("/api/generate", json=raw).json()
    # Ollama streams unless told not to; the mock server refuses to
    assert client.post("/api/chat", json={**chat, "stream": True}).status_code == 400
    assert (
        client.post("/api/chat", json={k: v for k, v in chat.items() if k != "stream"}).status_code
        == 400
    )


def test_cohere_v2_chat(server, http_client) -> None:
    client = http_client(server)
    body = {"model": "c", "messages": [{"role": "user", "content": "hello"}]}
    reply = client.post("/v2/chat", json=body).json()
    assert reply["message"]["content"] == [{"type": "text", "text": "echo: hello"}]
    assert reply["usage"]["tokens"] == {"input_tokens": 1, "output_tokens": 2}
    bad = {"model": "c", "messages": [{"role": "USER", "content": "hello"}]}
    assert client.post("/v2/chat", json=bad).json() == {
        "message": "invalid request: messages[0].role is not a valid role"
    }


def test_gemini_generate_content(server, http_client) -> None:
    client = http_client(server)
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {
                "type": "OBJECT",
                "properties": {"ok": {"type": "BOOLEAN"}},
                "required": ["ok"],
            },
        },
    }
    reply = client.post(GEMINI, json=body).json()
    text = reply["candidates"][0]["content"]["parts"][0]["text"]
    assert '"ok"' in text and reply["usageMetadata"]["promptTokenCount"] == 3
    wrong_role = {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}
    error = client.post(GEMINI, json=wrong_role)
    assert error.status_code == 400 and error.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert client.post(GEMINI.replace(":generateContent", ":predict"), json=body).status_code == 404


def test_native_dialects_check_the_bearer_key(start_server, http_client) -> None:
    server = start_server(api_key="k")
    client = http_client(server)
    body = {"model": "c", "messages": [{"role": "user", "content": "hello"}]}
    assert client.post("/v2/chat", json=body).status_code == 401
    ok = client.post("/v2/chat", json=body, headers={"authorization": "Bearer k"})
    assert ok.status_code == 200
