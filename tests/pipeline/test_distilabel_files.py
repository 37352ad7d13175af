"""A pipeline.yaml in distilabel 1.5's shape (type_info modules under `distilabel.`, the
runtime parameters described, distilabel's field set) loads and runs; the safe-loading rules
still hold for those names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stillroom.errors import SerializationError
from stillroom.pipeline import Pipeline
from stillroom.testing import MockLLMServer

pytestmark = pytest.mark.timeout(60)

RESOURCES = {"replicas": 1, "cpus": None, "gpus": None, "memory": None, "resources": None}


def distilabel_shaped(base_url: str) -> dict:
    """What distilabel 1.5 writes for load >> text generation (written out by hand)."""
    load = {
        "name": "load_data_from_dicts_0",
        "resources": RESOURCES,
        "input_mappings": {},
        "output_mappings": {},
        "use_cache": True,
        "batch_size": 50,
        "data": [{"instruction": "q1"}, {"instruction": "q2"}],
        "runtime_parameters_info": [{"name": "batch_size", "optional": True}],
        "type_info": {"module": "distilabel.steps.generators.data", "name": "LoadDataFromDicts"},
    }
    llm = {
        "generation_kwargs": {},
        "use_offline_batch_generation": False,
        "offline_batch_generation_block_until_done": None,
        "jobs_ids": None,
        "model": "m",
        "base_url": base_url,
        "default_headers": None,
        "max_retries": 1,
        "timeout": 30,
        "structured_output": None,
        "type_info": {"module": "distilabel.models.llms.openai", "name": "OpenAILLM"},
    }
    generate = {
        "name": "text_generation_0",
        "resources": RESOURCES,
        "input_mappings": {},
        "output_mappings": {},
        "use_cache": True,
        "input_batch_size": 50,
        "llm": llm,
        "group_generations": False,
        "add_raw_output": True,
        "add_raw_input": True,
        "num_generations": 1,
        "use_default_structured_output": False,
        "system_prompt": None,
        "use_system_prompt": True,
        "template": "{{ instruction }}",
        "columns": ["instruction"],
        "runtime_parameters_info": [],
        "type_info": {
            "module": "distilabel.steps.tasks.text_generation",
            "name": "TextGeneration",
        },
    }
    return {
        "distilabel": {"version": "1.5.3"},
        "pipeline": {
            "name": "from-distilabel",
            "description": None,
            "steps": [
                {"step": load, "name": "load_data_from_dicts_0"},
                {"step": generate, "name": "text_generation_0"},
            ],
            "connections": [
                {"from": "load_data_from_dicts_0", "to": ["text_generation_0"]},
                {"from": "text_generation_0", "to": []},
            ],
            "routing_batch_functions": [],
            "type_info": {"module": "distilabel.pipeline.local", "name": "Pipeline"},
        },
        "requirements": [],
    }


def test_a_distilabel_pipeline_yaml_loads_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with MockLLMServer() as server:
        path = tmp_path / "pipeline.yaml"
        path.write_text(yaml.safe_dump(distilabel_shaped(server.base_url)))
        pipeline = Pipeline.from_yaml(path)
        pipeline.cache_dir = tmp_path / "cache"
        rows = pipeline.run()["default"]["train"].to_list()
    assert [row["instruction"] for row in rows] == ["q1", "q2"]
    assert all(row["generation"] for row in rows)


@pytest.mark.parametrize(
    ("module", "name", "problem"),
    [
        ("distilabel.steps.tasks.text_generation", "_Private", "private"),
        ("distilabel.steps.tasks.text_generation", "templates", "not a"),
        ("distilabel_extras.steps", "TextGeneration", "not under 'stillroom'"),
    ],
)
def test_distilabel_names_keep_the_safe_loading_rules(module: str, name: str, problem: str) -> None:
    data = distilabel_shaped("http://127.0.0.1:9/v1")
    data["pipeline"]["steps"][1]["step"]["type_info"] = {"module": module, "name": name}
    with pytest.raises(SerializationError, match=problem):
        Pipeline.from_dict(data)
