"""No API key, nor any piece of one, in any log line, repr, dump, saved file, row or error."""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path

import httpx
import pytest
import respx
from backend_helpers import BACKENDS, USER, Backend

from stillroom.errors import LLMRequestError
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.openai_servers import KEYLESS_PLACEHOLDER
from stillroom.models.llms.redaction import excerpt, redact
from stillroom.models.llms.sending import Redacting
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(30)

KEY = "sk-live-7hG2kPq9Rt4WxYz0"
PROBE = "sk-SECRET-probe-x7Q"
PADDED = "p" * 485 + PROBE
"""A server message whose first 500 characters end 15 characters into the key."""


def texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


def pieces(secret: str = PROBE) -> set[str]:
    """Every 6-character piece of `secret`: none may show anywhere."""
    return {secret[i : i + 6] for i in range(len(secret) - 5)}


def assert_hidden(texts: list[str], secret: str = PROBE) -> None:
    for text in texts:
        shown = [piece for piece in pieces(secret) if piece in text]
        assert not shown, f"{shown} of the key in {text[-300:]!r}"


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records] + [caplog.text]


# --- the rule ---------------------------------------------------------------------------------


def test_redact_masks_the_key_and_every_piece_of_six_characters_or_more():
    assert redact(f"key {PROBE} was refused", [PROBE]) == "key *** was refused"
    assert redact(f"{PROBE}{PROBE}, {PROBE}", [PROBE]) == "***, ***"
    assert redact(f"echo: {PROBE[:12]}", [PROBE]) == "echo: ***"  # cut by the server
    assert redact(f"{PROBE[-7:]} and on", [PROBE]) == "*** and on"
    assert redact(f"x{PROBE[3:9]}x", [PROBE]) == "x***x"  # any 6 characters of it
    assert redact(f"only {PROBE[:5]}", [PROBE]) == f"only {PROBE[:5]}"  # 5 may stay


def test_redact_masks_short_secrets_whole_and_ignores_tiny_ones():
    assert redact("abcd and abc", ["abcd"]) == "*** and abc"  # 4-5 characters: whole only
    assert redact("abc", ["", "abc"]) == "abc"  # below 4 characters: not a secret


def test_excerpt_redacts_before_it_cuts():
    shown = excerpt(PADDED, [PROBE], 500)
    assert_hidden([shown])
    assert shown.endswith("***")
    assert excerpt("a\n  b " * 300, [], 20) == "a b a b a b a b a..."


# --- a key echoed by the server, cut at 500 characters -----------------------------------------


def test_a_key_after_485_characters_is_masked_before_the_message_is_cut(
    backend: Backend, mock_api: respx.MockRouter, loaded, caplog
):
    caplog.set_level(logging.DEBUG)
    mock_api.post(backend.url).mock(
        return_value=httpx.Response(401, json={"error": {"message": PADDED}})
    )
    (error,) = loaded(backend.make(api_key=PROBE)).generate_results([USER])
    assert isinstance(error, LLMRequestError) and error.status_code == 401
    assert "ppp" in str(error)  # the server's message is still shown
    assert_hidden(texts_of(error) + log_texts(caplog))


def test_a_key_the_server_cut_short_is_masked(
    backend: Backend, mock_api: respx.MockRouter, loaded, sleeps, caplog
):
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"Incorrect API key provided: {PROBE[:11]}"}}
    mock_api.post(backend.url).mock(
        side_effect=[httpx.Response(500, json=echo), httpx.Response(403, json=echo)]
    )
    (error,) = loaded(backend.make(api_key=PROBE)).generate_results([USER])
    assert isinstance(error, LLMRequestError) and error.status_code == 403
    assert "Incorrect API key provided: ***" in str(error)
    assert any("retry 1/" in text for text in log_texts(caplog))  # the retry's DEBUG line
    assert_hidden(texts_of(error) + log_texts(caplog))


def test_a_malformed_reply_echoing_the_key_is_masked_before_it_is_cut(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    mock_api.post(backend.url).mock(
        return_value=httpx.Response(200, json={"unexpected": "p" * 170 + PROBE})
    )
    (error,) = loaded(backend.make(api_key=PROBE)).generate_results([USER])
    assert isinstance(error, LLMRequestError) and "malformed reply" in str(error)
    assert_hidden(texts_of(error))


def test_an_unexpected_exception_holding_the_key_is_replaced(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    def fail(request: httpx.Request) -> httpx.Response:
        header = (
            request.headers.get("authorization")
            or request.headers.get("api-key")  # Azure
            or request.headers["x-api-key"]
        )
        raise RuntimeError(f"cannot send the header {header}") from ValueError(header)

    mock_api.post(backend.url).mock(side_effect=fail)
    (error,) = loaded(backend.make(api_key=PROBE)).generate_results([USER])
    assert isinstance(error, LLMRequestError)
    assert "RuntimeError" in str(error) and "cannot send the header" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    assert_hidden(texts_of(error))


def test_the_keyless_placeholder_is_not_masked(mock_api: respx.MockRouter, loaded):
    mock_api.post("http://local.test/v1/chat/completions").mock(
        return_value=httpx.Response(401, json={"error": {"message": "a key is required"}})
    )
    llm = loaded(OpenAILLM(model="m", base_url="http://local.test/v1", api_key_env=None))
    (error,) = llm.generate_results([USER])
    assert llm._secret.get_secret_value() == KEYLESS_PLACEHOLDER
    assert "a key is required" in str(error)


def test_the_redacting_layer_is_there_when_there_is_a_key_to_hide(loaded):
    """A keyless server's requests skip the layer that would look at every error for a key
    it does not have; with a key, errors go through it."""
    keyless = loaded(OpenAILLM(model="m", base_url="http://local.test/v1", api_key_env=None))
    assert not isinstance(keyless._sender(), Redacting)
    keyed = loaded(OpenAILLM(model="m", base_url="http://local.test/v1", api_key=PROBE))
    assert isinstance(keyed._sender(), Redacting)


def test_aiohttp_a_key_after_485_characters_is_masked(canned, loaded, caplog):
    caplog.set_level(logging.DEBUG)  # every logger: stillroom, aiohttp, asyncio
    body = json.dumps({"error": {"message": PADDED}}).encode()
    url = canned(401, {"content-type": "application/json"}, body)
    llm = OpenAILLM(model="m", base_url=url, api_key=PROBE, http_transport="aiohttp")
    (error,) = loaded(llm).generate_results([USER])
    assert isinstance(error, LLMRequestError) and error.status_code == 401
    assert_hidden(texts_of(error) + log_texts(caplog))


def test_a_pipeline_saves_no_piece_of_the_key(canned, tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"error": {"message": PADDED}}).encode()
    url = canned(401, {"content-type": "application/json"}, body)
    with Pipeline(name="redact", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(3)])
        llm = OpenAILLM(model="m", base_url=url, api_key=PROBE, http_transport="aiohttp")
        load >> TextGeneration(name="gen", llm=llm)
    distiset = pipeline.run(progress=False)
    rows = distiset["default"]["train"].to_list()
    errors = [row["stillroom_metadata"]["error_gen"] for row in rows]
    assert len(errors) == 3 and all("HTTP 401" in error and "ppp" in error for error in errors)
    distiset.save_to_disk(tmp_path / "saved")
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.is_relative_to(tmp_path / "saved") for path in files)
    texts = [path.read_bytes().decode("latin-1") for path in files]
    assert_hidden([str(rows), *texts, *log_texts(caplog)])


def test_key_never_leaks(backend: Backend, mock_api: respx.MockRouter, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)  # every logger: stillroom, openai, httpx, httpcore
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    mock_api.post(backend.url).mock(
        side_effect=[
            backend.ok("first"),
            httpx.Response(429),
            backend.ok("after retry"),
            httpx.Response(401, json=echo),
            httpx.Response(500, json=echo),
            httpx.Response(500, json=echo),
        ]
    )
    llm = backend.make(api_key=KEY, max_retries=1, max_concurrent_requests=1)
    task = TextGeneration(name="gen", llm=llm)
    task.load()
    try:
        (rows,) = list(task.process([{"instruction": str(i)} for i in range(4)]))
    finally:
        task.unload()

    assert [row["generation"] for row in rows] == ["first", "after retry", None, None]
    errors = [row["stillroom_metadata"]["error_gen"] for row in rows[2:]]
    assert "***" in errors[0]  # the echoed key was redacted from the server's message

    exposed = [repr(llm), str(llm), repr(task), str(llm.dump()), str(task.dump())]
    exposed += [str(rows), str(llm.get_runtime_parameters_info())]
    exposed += [llm.model_dump_json()]
    llm.save(tmp_path / "llm.yaml")
    task.save(tmp_path / "task.json")
    exposed += [(tmp_path / "llm.yaml").read_text(), (tmp_path / "task.json").read_text()]
    exposed += [record.getMessage() for record in caplog.records]
    exposed += [str(record.args) for record in caplog.records]
    assert caplog.records, "the logs were captured"
    for text in exposed:
        assert KEY not in text


def test_key_not_in_exceptions_raised_directly(backend: Backend, mock_api: respx.MockRouter):
    mock_api.post(backend.url).mock(
        return_value=httpx.Response(401, text=f"bad key {KEY}, try again")
    )
    llm = backend.make(api_key=KEY)
    llm.load()
    try:
        with pytest.raises(Exception) as caught:
            llm.generate([[{"role": "user", "content": "hi"}]])
    finally:
        llm.unload()
    for text in texts_of(caught.value):
        assert KEY not in text
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    "backend", [b for b in BACKENDS.values() if b.bare is not None], ids=lambda b: b.name
)
def test_key_from_env_is_not_dumped(backend: Backend, monkeypatch):
    monkeypatch.setenv(backend.key_env_var, KEY)
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    llm = type(backend.make())(**backend.bare)
    llm.load()  # the key is read from the environment variable when the LLM loads
    try:
        assert llm._secret is not None and llm._secret.get_secret_value() == KEY
        assert llm.api_key_env == backend.key_env_var
        assert KEY not in str(llm.dump()) and KEY not in repr(llm) and KEY not in str(llm)
    finally:
        llm.unload()


def test_a_keyed_task_saved_and_loaded_back_is_equal(backend: Backend, tmp_path):
    # No key in the environment (conftest), so the loaded LLM's api_key is None while the
    # original's is set: the dump must leave the field out either way.
    task = TextGeneration(name="gen", llm=backend.make(api_key=KEY))
    path = task.save(tmp_path / "task.yaml")
    text = path.read_text()
    assert KEY not in text and "api_key:" not in text
    loaded = TextGeneration.from_yaml(path)
    assert loaded.llm.api_key is None
    assert loaded == task
