"""dump(), YAML/JSON save and load back, secrets never written, safe imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from stillroom.errors import SerializationError
from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration


class KeyedLLM(MockLLM):
    """A mock with a secret, like a real backend's api_key."""

    api_key: SecretStr | None = None


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip_gives_an_equal_object(tmp_path: Path, suffix: str) -> None:
    task = TextGeneration(
        name="gen",
        llm=AsyncMockLLM(model="m", responses=["a", "b"], generation_kwargs={"temperature": 0.3}),
        template="Q: {{ question }}",
        columns=["question"],
        num_generations=2,
        input_mappings={"question": "q"},
    )
    path = task.save(tmp_path / f"task{suffix}")
    loaded = TextGeneration.from_file(path)
    assert loaded == task
    assert isinstance(loaded.llm, AsyncMockLLM)
    assert loaded.llm.generation_kwargs == {"temperature": 0.3}


def test_dump_has_type_information() -> None:
    dump = LoadDataFromDicts(data=[{"a": 1}]).dump()
    assert dump["type_info"] == {
        "module": "stillroom.steps.generators.data",
        "name": "LoadDataFromDicts",
    }
    assert dump["name"] == "load_data_from_dicts_0"
    assert "pipeline" not in dump


def test_secrets_are_never_written(tmp_path: Path) -> None:
    task = TextGeneration(llm=KeyedLLM(api_key=SecretStr("sk-very-secret")))
    assert "sk-very-secret" not in repr(task.dump())
    assert "sk-very-secret" not in repr(task)
    text = task.save(tmp_path / "t.yaml").read_text()
    assert "sk-very-secret" not in text and "api_key" not in text


def test_unknown_modules_are_not_imported(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("type_info: {module: os, name: system}\nname: x\n")
    with pytest.raises(SerializationError, match=r"Refusing to import os\.system"):
        TextGeneration.from_yaml(path)


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SerializationError, match=r"bad.yaml is not valid YAML"):
        TextGeneration.from_yaml(path)


def test_a_list_at_the_top_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(SerializationError, match="should hold a mapping"):
        TextGeneration.from_yaml(path)


def test_callable_responses_cannot_be_dumped() -> None:
    from stillroom.errors import StillroomError

    with pytest.raises(StillroomError, match="cannot be serialised"):
        MockLLM(responses=lambda messages: "x").dump()
