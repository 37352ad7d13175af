"""No API key in any log line, repr, dump, saved file, row or exception text."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest
import respx
from backend_helpers import Backend

from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(30)

KEY = "sk-live-7hG2kPq9Rt4WxYz0"


def texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


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


def test_key_from_env_is_not_dumped(backend: Backend, monkeypatch):
    monkeypatch.setenv(backend.key_env_var, KEY)
    llm = type(backend.make())(model="m")
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
