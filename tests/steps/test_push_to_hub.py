"""PushToHub against a mocked Hub HTTP API (huggingface_hub's client with a mock transport:
huggingface_hub 2.x sends through httpx2, which respx does not patch). Nothing leaves the
machine."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import huggingface_hub
import pyarrow.parquet as pq
import pytest

from stillroom.distiset import hub
from stillroom.errors import StillroomError
from stillroom.steps import PushToHub

httpx2 = pytest.importorskip("httpx2", reason="huggingface_hub 2.x's HTTP client")

ENDPOINT = "https://hub.invalid"
TOKEN = "hf_notARealTokenButLongEnough123"
ROWS = [{"instruction": "Hi", "generation": "Hello"}, {"instruction": "Bye", "generation": None}]

Handler = Callable[[Any], Any]


@pytest.fixture
def hub_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Handler], list[Any]]]:
    """Route huggingface_hub's requests to a handler; returns the requests seen."""
    from huggingface_hub.utils import _http

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", ENDPOINT)

    def install(handler: Handler) -> list[Any]:
        seen: list[Any] = []

        def record(request: Any) -> Any:
            seen.append(request)
            return handler(request)

        huggingface_hub.set_client_factory(
            lambda: httpx2.Client(transport=httpx2.MockTransport(record))
        )
        return seen

    yield install
    huggingface_hub.set_client_factory(_http.default_client_factory)


def _hub(request: Any) -> Any:
    url = str(request.url)
    if url.endswith("/api/repos/create"):
        return httpx2.Response(200, json={"url": f"{ENDPOINT}/datasets/me/data"})
    if "/preupload/" in url:
        files = json.loads(request.content)["files"]
        modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
        return httpx2.Response(200, json={"files": modes, "commitOid": "0" * 40})
    if "/commit/" in url:
        commit = f"{ENDPOINT}/datasets/me/data/commit/{'1' * 40}"
        return httpx2.Response(200, json={"commitUrl": commit, "commitOid": "1" * 40})
    return httpx2.Response(404, json={"error": "not found"})


def _push(**fields: Any) -> list[dict[str, Any]]:
    step = PushToHub(**{"repo_id": "me/data", "token": TOKEN, **fields})
    step.load()
    return next(step.process([dict(row) for row in ROWS]))


def test_rows_land_as_the_splits_parquet_file_and_pass_through(hub_api: Any) -> None:
    seen = hub_api(_hub)
    assert _push(split="test", private=True) == ROWS
    (create,) = [r for r in seen if str(r.url).endswith("/api/repos/create")]
    assert json.loads(create.content) == {
        "name": "data",
        "organization": "me",
        "visibility": "private",
        "type": "dataset",
    }
    assert create.headers["authorization"] == f"Bearer {TOKEN}"
    (commit,) = [r for r in seen if "/commit/main" in str(r.url)]
    assert str(commit.url) == f"{ENDPOINT}/api/datasets/me/data/commit/main"
    lines = [json.loads(line) for line in commit.content.decode().splitlines()]
    (file,) = [line["value"] for line in lines if line["key"] == "file"]
    assert file["path"] == "data/test-00000-of-00001.parquet"
    table = pq.read_table(io.BytesIO(base64.b64decode(file["content"])))
    assert table.to_pylist() == ROWS


def test_a_refused_token_names_where_the_token_goes(hub_api: Any) -> None:
    hub_api(lambda request: httpx2.Response(401, json={"error": "Invalid credentials"}))
    with pytest.raises(StillroomError, match=r"refused the token \(HTTP 401\).*HF_TOKEN") as info:
        _push()
    assert TOKEN not in str(info.value) and "repo_id='me/data'" in str(info.value)


def test_an_unreachable_hub_says_so(hub_api: Any) -> None:
    def refuse(request: Any) -> Any:
        raise httpx2.ConnectError("connection refused", request=request)

    hub_api(refuse)
    with pytest.raises(StillroomError, match=f"Hub at {ENDPOINT} could not be reached"):
        _push()


def test_offline_mode_and_a_missing_token_stop_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub, "hub_offline", lambda: True)
    with pytest.raises(StillroomError, match="offline mode is on"):
        _push()
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    step = PushToHub(repo_id="me/data")
    step.load()
    with pytest.raises(StillroomError, match=r"PushToHub.*needs a Hugging Face token"):
        next(step.process([dict(ROWS[0])]))


def test_the_token_is_secret_in_a_dump() -> None:
    assert TOKEN not in json.dumps(PushToHub(repo_id="me/data", token=TOKEN).dump(), default=str)
