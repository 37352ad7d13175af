"""TextGenerationToArgilla and PreferenceToArgilla against respx mocks of Argilla 2.x's HTTP
API (`argilla_fake.FakeArgilla`): the dataset's settings, the records that land, retries on
5xx, a refused key, and an existing dataset reused or refused."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import respx
from argilla_fake import API_KEY, FakeArgilla

from stillroom.errors import MissingExtraError, StillroomError, StillroomUserError
from stillroom.steps import PreferenceToArgilla, TextGenerationToArgilla

pytest.importorskip("argilla", reason="needs the [argilla] extra")

URL = "http://argilla.invalid"


@pytest.fixture
def server() -> Iterator[FakeArgilla]:
    fake = FakeArgilla()
    with respx.mock(base_url=URL, assert_all_called=False) as mock:
        mock.route().mock(side_effect=fake)
        yield fake


def _connection(**fields: Any) -> dict[str, Any]:
    return {"api_url": URL, "api_key": API_KEY, "retry_backoff": 0.0, **fields}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_text_generation_creates_the_dataset_and_logs_one_record_per_distinct_generation(
    server: FakeArgilla,
) -> None:
    step = TextGenerationToArgilla(dataset_name="answers", **_connection())
    step.load()
    rows = [
        {"instruction": "Say hi", "generation": ["Hi", "Hello", "Hi"]},
        {"instruction": "Say bye", "generation": "Bye"},
    ]
    assert next(step.process([dict(r) for r in rows])) == rows
    dataset = server.dataset_named("answers")
    assert dataset["status"] == "ready" and dataset["workspace_id"] == server.workspace["id"]
    fields = server.fields[dataset["id"]]
    assert [(f["name"], f["settings"]["type"], f["required"]) for f in fields] == [
        ("id", "text", True),
        ("instruction", "text", True),
        ("generation", "text", True),
    ]
    (question,) = server.questions[dataset["id"]]
    assert question["name"] == "quality" and question["settings"]["type"] == "label_selection"
    assert [o["value"] for o in question["settings"]["options"]] == ["bad", "good"]
    landed = [r["fields"] for r in server.records[dataset["id"]]]
    assert landed == [
        {"id": _sha("Say hi"), "instruction": "Say hi", "generation": "Hi"},
        {"id": _sha("Say hi"), "instruction": "Say hi", "generation": "Hello"},
        {"id": _sha("Say bye"), "instruction": "Say bye", "generation": "Bye"},
    ]


def test_preference_fields_questions_and_suggestions(server: FakeArgilla) -> None:
    step = PreferenceToArgilla(dataset_name="prefs", num_generations=2, **_connection())
    step.load()
    row = {
        "instruction": "2+2?",
        "generations": ["4", "5"],
        "ratings": [5, 7],  # 7 is off the 1..5 scale: not suggested
        "rationales": ["right", None],
    }
    next(step.process([row]))
    dataset = server.dataset_named("prefs")
    fields = [(f["name"], f["required"]) for f in server.fields[dataset["id"]]]
    assert fields == [
        ("id", True),
        ("instruction", True),
        ("generations-0", True),
        ("generations-1", False),
    ]
    questions = {q["name"]: q for q in server.questions[dataset["id"]]}
    assert list(questions) == [
        "generations-0-rating",
        "generations-0-rationale",
        "generations-1-rating",
        "generations-1-rationale",
    ]
    rating = questions["generations-0-rating"]["settings"]
    assert rating["type"] == "rating" and [o["value"] for o in rating["options"]] == [1, 2, 3, 4, 5]
    assert questions["generations-1-rating"]["required"] is False
    (record,) = server.records[dataset["id"]]
    assert record["fields"] == {
        "id": _sha("2+2?"),
        "instruction": "2+2?",
        "generations-0": "4",
        "generations-1": "5",
    }
    suggested = {(s["question_name"], s["value"]) for s in record["suggestions"]}
    assert suggested == {("generations-0-rating", 5), ("generations-0-rationale", "right")}


def test_5xx_answers_are_retried_then_a_persistent_one_is_an_error(server: FakeArgilla) -> None:
    server.fail_next = [503, 502]
    step = TextGenerationToArgilla(dataset_name="flaky", **_connection(max_retries=2))
    step.load()
    assert server.seen[:3] == [("GET", "/api/v1/me")] * 3
    server.fail_next = [500, 500]
    next(step.process([{"instruction": "a", "generation": "b"}]))
    assert len(server.records[server.dataset_named("flaky")["id"]]) == 1
    server.fail_next = [503, 503, 503]
    with pytest.raises(StillroomError, match=r"TextGenerationToArgilla.*failed while logging"):
        next(step.process([{"instruction": "a", "generation": "c"}]))


def test_a_refused_key_names_its_variable_and_never_shows_it(server: FakeArgilla) -> None:
    step = TextGenerationToArgilla(dataset_name="x", **_connection(api_key="argilla.wrong-key"))
    with pytest.raises(
        StillroomError, match=r"refused the API key \(HTTP 401\).*ARGILLA_API_KEY"
    ) as info:
        step.load()
    assert "argilla.wrong-key" not in str(info.value)
    assert "argilla.wrong-key" not in json.dumps(step.dump(), default=str)


def test_an_existing_dataset_is_reused_or_refused(server: FakeArgilla) -> None:
    text = {"type": "text", "use_markdown": False}
    server.add_dataset(
        "old",
        [
            {"name": n, "title": n, "required": True, "settings": text}
            for n in ("id", "instruction", "generation")
        ],
    )
    step = TextGenerationToArgilla(dataset_name="old", **_connection())
    step.load()
    assert ("POST", "/api/v1/datasets") not in server.seen
    next(step.process([{"instruction": "a", "generation": "b"}]))
    assert len(server.records[server.dataset_named("old")["id"]]) == 1
    server.add_dataset(
        "other", [{"name": "topic", "title": "t", "required": True, "settings": text}]
    )
    with pytest.raises(StillroomUserError, match="required fields this step cannot fill: topic"):
        TextGenerationToArgilla(dataset_name="other", **_connection()).load()


def test_connection_settings_are_checked_before_any_request(
    server: FakeArgilla, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    with pytest.raises(StillroomUserError, match="ARGILLA_API_URL and ARGILLA_API_KEY"):
        TextGenerationToArgilla(dataset_name="x", api_key=API_KEY).load()
    assert server.seen == []
    monkeypatch.setitem(sys.modules, "argilla", None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[argilla\]"):
        TextGenerationToArgilla(dataset_name="x", **_connection()).load()
