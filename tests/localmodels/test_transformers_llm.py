"""TransformersLLM on tiny models built by the tests: chat template, batches, token counts,
structured output (validated and re-asked), Magpie prompts, a pipeline run with its cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel
from tiny_models import SCRIPTED_TEXT, check_magpie_turn

from stillroom.errors import StructuredOutputError
from stillroom.models.llms.huggingface import TransformersLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN

pytestmark = [pytest.mark.transformers, pytest.mark.timeout(300)]

GREEDY = {"do_sample": False, "max_new_tokens": 12}


class Person(BaseModel):
    name: str
    age: int


def _llm(folder: Path, **fields: object) -> TransformersLLM:
    llm = TransformersLLM(model=str(folder), generation_kwargs=GREEDY, **fields)  # type: ignore[arg-type]
    llm.load()
    return llm


def test_the_random_model_generates_within_the_token_budget(random_lm: Path) -> None:
    llm = _llm(random_lm)
    chats = [[{"role": "user", "content": "Hello world!"}], [{"role": "user", "content": "A cat"}]]
    outputs = llm.generate(
        chats, num_generations=2, **GREEDY
    )  # generation_kwargs apply to generate_results
    assert len(outputs) == 2
    for output in outputs:
        assert len(output["generations"]) == 2
        assert all(isinstance(text, str) for text in output["generations"])
        assert all(1 <= n <= 12 for n in output["statistics"]["output_tokens"]), output
    prompt = llm.apply_chat_template(chats[0])
    assert prompt == "<|im_start|>user\nHello world!<|im_end|>\n<|im_start|>assistant\n"
    expected_prompt_tokens = len(llm._tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert outputs[0]["statistics"]["input_tokens"][0] == expected_prompt_tokens  # type: ignore[typeddict-item]


def test_the_scripted_model_writes_its_script_after_any_prompt(scripted_lm: Path) -> None:
    llm = _llm(scripted_lm)
    (output,) = llm.generate([[{"role": "user", "content": "Who?"}]], **GREEDY)
    assert output["generations"] == [SCRIPTED_TEXT]
    assert output["statistics"]["output_tokens"] == [6]  # type: ignore[typeddict-item]  # 5 pieces + EOS


def test_structured_output_is_validated_and_kept_when_valid(scripted_lm: Path) -> None:
    llm = _llm(scripted_lm, structured_output={"format": "json", "schema": Person})
    (output,) = llm.generate_results([[{"role": "user", "content": "Give a person as JSON"}]])
    assert not isinstance(output, BaseException)
    assert Person.model_validate_json(output["generations"][0]) == Person(name="Ada", age=36)


def test_a_reply_that_never_matches_the_schema_is_an_error_after_the_retries(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without llguidance the reply is only checked (with it the grammar would shape it).
    monkeypatch.setitem(sys.modules, "llguidance", None)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    llm = _llm(scripted_lm, structured_output_retries=1)
    (result,) = llm.generate_results(
        [([{"role": "user", "content": "A city"}], {"format": "json", "schema": schema})]
    )
    assert isinstance(result, StructuredOutputError)
    assert "2 request(s)" in str(result) and "city" in str(result)


def test_magpie_renders_up_to_a_user_turn(scripted_lm: Path) -> None:
    llm = _llm(scripted_lm, use_magpie_template=True, magpie_pre_query_template="chatml")
    check_magpie_turn(llm, **GREEDY)


def test_a_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    llm = TransformersLLM(model=str(tmp_path / "nowhere"))
    with pytest.raises(Exception, match="nowhere"):
        llm.load()


def test_the_token_is_a_secret_read_from_hf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    llm = TransformersLLM(model="some/model")
    assert llm.token is not None and llm.token.get_secret_value() == "hf_secret_value"
    assert "hf_secret_value" not in json.dumps(llm.dump(), default=str)


def test_text_and_schema_valid_json_in_a_pipeline_run_then_from_the_cache(
    scripted_lm: Path,
) -> None:
    def build() -> Pipeline:
        with Pipeline(name="transformers-tiny") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": "Ada?"}, {"instruction": "Age?"}])
            text = TextGeneration(
                name="text",
                llm=TransformersLLM(model=str(scripted_lm), generation_kwargs=GREEDY),
            )
            person = TextGeneration(
                name="person",
                llm=TransformersLLM(
                    model=str(scripted_lm),
                    generation_kwargs=GREEDY,
                    structured_output={"format": "json", "schema": Person.model_json_schema()},
                ),
            )
            load >> [text, person]
        return pipeline

    distiset = build().run(progress=False)
    for leaf in ("text", "person"):
        rows = distiset[leaf]["train"].to_list()
        assert [row["generation"] for row in rows] == [SCRIPTED_TEXT, SCRIPTED_TEXT]
        assert all(row["model_name"] == str(scripted_lm) for row in rows)
    person_row = distiset["person"]["train"].to_list()[0]
    assert Person.model_validate_json(person_row["generation"]).age == 36
    assert METADATA_COLUMN in person_row
    assert distiset.summary is not None and distiset.summary.requests_sent == 4

    again = build().run(progress=False)
    assert again.summary is not None
    assert again.summary.requests_sent == 0 and again.summary.cache_hits == 4
    assert [r["generation"] for r in again["person"]["train"].to_list()] == [SCRIPTED_TEXT] * 2


def test_spec_prefix_builds_a_transformers_llm(scripted_lm: Path) -> None:
    from stillroom.models.llms import llm_from_spec

    llm = llm_from_spec(f"transformers:{scripted_lm}")
    assert isinstance(llm, TransformersLLM) and llm.model == str(scripted_lm)
