"""LlamaCppLLM on the embedded SmolLM2 model: chat, JSON by grammar, raw prompts, errors."""

from __future__ import annotations

import json
import sys

import pytest
from pydantic import BaseModel

from stillroom.errors import MissingExtraError, NotLoadedError, StillroomError
from stillroom.models import LlamaCppLLM
from stillroom.models.llms import llamacpp
from stillroom.models.llms.json_schema import schema_errors
from stillroom.steps.tasks import MagpieGenerator, TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN

SHORT = {"max_new_tokens": 24, "temperature": 0.7}


class Pet(BaseModel):
    name: str
    species: str
    age: int


@pytest.mark.local_model
@pytest.mark.timeout(120)
class TestEmbeddedModel:
    def test_generates_a_reply(self, local_llm):
        (output,) = local_llm.generate([[{"role": "user", "content": "Name a colour."}]], **SHORT)
        (text,) = output["generations"]
        assert isinstance(text, str) and text.strip()
        assert output["statistics"]["input_tokens"][0] > 5
        assert 0 < output["statistics"]["output_tokens"][0] <= 24

    def test_images_are_refused_by_the_text_only_model(self, local_llm):
        image = {"type": "image_url", "image_url": {"url": "https://images.test/cat.png"}}
        chat = [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}]
        (result,) = local_llm.generate_results([chat], **SHORT)
        assert isinstance(result, StillroomError)
        assert "text-only" in str(result) and "chat_handler" in str(result)
        with pytest.raises(StillroomError, match="1 image"):
            local_llm.generate([chat], **SHORT)

    def test_seed_makes_generations_reproducible(self, local_llm):
        chat = [{"role": "user", "content": "Write a word."}]
        first = local_llm.generate([chat], num_generations=2, seed=11, **SHORT)
        again = local_llm.generate([chat], num_generations=2, seed=11, **SHORT)
        assert first[0]["generations"] == again[0]["generations"]
        assert len(first[0]["generations"]) == 2

    def test_structured_output_from_a_pydantic_model(self, local_llm):
        chat = [{"role": "user", "content": "Describe a pet as JSON."}]
        (output,) = local_llm.generate([(chat, {"schema": Pet})], max_new_tokens=80, seed=1)
        pet = Pet.model_validate_json(output["generations"][0])
        assert pet.name

    def test_structured_output_from_a_json_schema(self, local_llm):
        schema = {
            "type": "object",
            "properties": {"city": {"type": "string"}, "sunny": {"type": "boolean"}},
            "required": ["city", "sunny"],
        }
        chat = [{"role": "user", "content": "Weather report as JSON."}]
        (output,) = local_llm.generate([(chat, {"format": "json", "schema": schema})],
                                       max_new_tokens=60, seed=2)  # fmt: skip
        assert schema_errors(json.loads(output["generations"][0]), schema) == []

    def test_chat_template_and_raw_prompt_continuation(self, local_llm):
        assert "<|im_start|>" in local_llm.chat_template
        system = [{"role": "system", "content": "You are a travel agent."}]
        prefix = local_llm.apply_chat_template(system, add_generation_prompt=False)
        assert prefix == "<|im_start|>system\nYou are a travel agent.<|im_end|>\n"
        full = local_llm.apply_chat_template([{"role": "user", "content": "Hi"}])
        assert full.endswith("<|im_start|>assistant\n")
        (result,) = local_llm.generate_results_from_prompts(
            [prefix + "<|im_start|>user\n"], num_generations=2, stop=["<|im_end|>"], seed=3, **SHORT
        )
        assert len(result["generations"]) == 2
        assert all(isinstance(g, str) and g.strip() for g in result["generations"])

    def test_in_a_task(self, local_llm):
        task = TextGeneration(name="gen", llm=local_llm, num_generations=1)
        task.llm.generation_kwargs = SHORT
        task.load()  # the LLM is loaded already; the session fixture unloads it at the end
        (rows,) = list(task.process([{"instruction": "Say hi."}]))
        assert rows[0]["generation"]
        assert rows[0]["model_name"] == "SmolLM2-135M-Instruct.Q4_1"
        assert "statistics_gen" in rows[0][METADATA_COLUMN]
        task.llm.generation_kwargs = {}

    def test_magpie_generator_writes_user_messages(self, local_llm):
        assert local_llm.magpie_pre_query_template == "<|im_start|>user\n"  # ChatML default
        task = MagpieGenerator(name="magpie", llm=local_llm, num_rows=2, n_turns=1)
        local_llm.generation_kwargs = {"max_new_tokens": 16, "temperature": 0.9}
        try:
            task.load()
            rows = [row for batch, _ in task.process() for row in batch]
        finally:
            local_llm.generation_kwargs = {}
            local_llm.use_magpie_template = False
        assert len(rows) == 2
        assert all(isinstance(r["instruction"], str) and r["instruction"] for r in rows)
        # The first request was the bare pre-query: nothing for the model but a user header.
        assert rows[0][METADATA_COLUMN]["raw_input_magpie"][0] == []

    def test_same_settings_share_one_loaded_model(self, local_llm):
        holders = local_llm._shared.users  # the fixture's LLM, and any other test's left loaded
        twin = LlamaCppLLM(n_threads=1, n_ctx=1024)
        twin.load()
        try:
            assert twin._shared is local_llm._shared
            assert local_llm._shared.users == holders + 1
        finally:
            twin.unload()
        assert local_llm._shared.users == holders  # the fixture's LLM still holds it


def test_model_name_without_loading():
    assert LlamaCppLLM().model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert LlamaCppLLM(model_path="/m/qwen2.5-0.5b.Q8_0.gguf").model_name == "qwen2.5-0.5b.Q8_0"


def test_generate_before_load_is_a_clear_error():
    with pytest.raises(NotLoadedError, match="load"):
        LlamaCppLLM().generate([[{"role": "user", "content": "x"}]])


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(StillroomError, match="no GGUF file at"):
        LlamaCppLLM(model_path=str(tmp_path / "absent.gguf")).load()


def test_missing_embedded_model_names_the_extra(monkeypatch):
    monkeypatch.setattr(llamacpp.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[local\]"):
        LlamaCppLLM().load()


def test_missing_llama_cpp_names_the_extra(monkeypatch, tmp_path):
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"llama-cpp-python.*stillroom\[local\]"):
        LlamaCppLLM(model_path=str(model)).load()
