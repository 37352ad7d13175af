"""Loading a pipeline file imports nothing that acts on import, and a `type_info` only ever
names a class of the expected kind, defined in the module it names."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from stillroom.errors import SerializationError
from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import GeneratorStep, LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

SRC = Path(__file__).resolve().parents[2] / "src"


def pipeline_file(tmp_path: Path, info: dict[str, str]) -> Path:
    """A saved one-step pipeline whose step carries `info` as its type_info."""
    with Pipeline(name="p") as pipeline:
        LoadDataFromDicts(name="load", data=[{"a": 1}])
    data: dict[str, Any] = pipeline.dump()
    data["pipeline"]["steps"][0]["step"]["type_info"] = info
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("module", ["stillroom.__main__", "stillroom.testing.__main__"])
def test_a_main_module_is_refused_before_it_is_imported(tmp_path: Path, module: str) -> None:
    sys.modules.pop(module, None)
    path = pipeline_file(tmp_path, {"module": module, "name": "main"})
    with pytest.raises(SerializationError, match=r"program's entry point"):
        Pipeline.from_yaml(path)
    assert module not in sys.modules  # never imported; and this process is still running


def test_a_module_inside_a_main_module_is_refused_too(tmp_path: Path) -> None:
    sys.modules.pop("stillroom.__main__", None)
    path = pipeline_file(tmp_path, {"module": "stillroom.__main__.sub", "name": "X"})
    with pytest.raises(SerializationError, match=r"program's entry point"):
        Pipeline.from_yaml(path)
    assert "stillroom.__main__" not in sys.modules


def test_importing_stillroom_main_does_not_run_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import stillroom.__main__; print('still here')", "pipeline"],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "still here\n"


@pytest.mark.parametrize(
    ("info", "message"),
    [
        (
            {"module": "stillroom.steps", "name": "LoadDataFromDicts"},
            r"defined as stillroom\.steps\.generators\.data\.LoadDataFromDicts; write type_info "
            r"\{module: stillroom\.steps\.generators\.data, name: LoadDataFromDicts\}",
        ),
        (
            {"module": "stillroom.utils.serialization", "name": "BaseModel"},
            r"defined as pydantic\.main\.BaseModel",
        ),
        (
            {"module": "stillroom.utils.serialization", "name": "read_file"},
            r"it names a function, not a Step class",
        ),
        (
            {"module": "stillroom.models.llms.mock", "name": "MockLLM"},
            r"that class is not a Step, which is what this part of the file must hold",
        ),
        ({"module": "stillroom.steps.base", "name": "_Step"}, r"not a private"),
        ({"module": "stillroom.steps.base", "name": "Step.__subclasses__"}, r"not a private"),
        ({"module": "stillroom.steps.base", "name": "Nope"}, r"it names nothing"),
        ({"module": ".steps", "name": "Step"}, r"is not under 'stillroom'"),
        ({"module": "stillroom..steps", "name": "Step"}, r"is not a module name"),
    ],
)
def test_type_info_must_name_a_class_of_the_expected_kind_where_it_is_defined(
    tmp_path: Path, info: dict[str, str], message: str
) -> None:
    with pytest.raises(SerializationError, match=message):
        Pipeline.from_yaml(pipeline_file(tmp_path, info))


def test_a_nested_object_must_be_serializable() -> None:
    task = TextGeneration(name="gen", llm=MockLLM(responses="x"))
    data = task.dump()
    data["llm"] = {"type_info": {"module": "stillroom.errors", "name": "StillroomError"}}
    with pytest.raises(SerializationError, match=r"not a Serializable"):
        TextGeneration.from_dict(data)


class _ScriptStep(GeneratorStep):
    def process(self, offset: int = 0):  # type: ignore[no-untyped-def]
        yield [{"a": 1}], True


def test_the_running_scripts_own_classes_are_looked_up_not_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = types.ModuleType("__main__")
    step_class = type("ScriptStep", (_ScriptStep,), {"__module__": "__main__"})
    script.ScriptStep = step_class  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", script)
    data = {"type_info": {"module": "__main__", "name": "ScriptStep"}, "name": "s"}
    with pytest.raises(SerializationError, match=r"Refusing to import __main__\.ScriptStep"):
        GeneratorStep.from_dict(data)
    loaded = GeneratorStep.from_dict(data, allowed_modules=["__main__"])
    assert type(loaded) is step_class
