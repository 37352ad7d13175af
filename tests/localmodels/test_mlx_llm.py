"""MlxLLM against the real mlx-lm (MLX's CPU backend on Linux, Metal on Apple silicon) on the
tiny Llamas the tests build (Hugging Face safetensors folders, which `mlx_lm.load` reads):
chat template, token counts, num_generations, sampling settings, Magpie prompts,
structured output (validated and re-asked; a reply that never fits keeps its row with None
and the error), a pipeline run with `model_name` and its cache, and the missing-extra error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import BaseModel
from tiny_models import SCRIPTED_TEXT, check_magpie_turn

from stillroom.errors import MissingExtraError, StructuredOutputError
from stillroom.models import MlxLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN

pytestmark = [pytest.mark.mlx, pytest.mark.timeout(300)]

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlx_lm")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the models are local folders; nothing to fetch


def _llm(folder: Path, **fields: object) -> MlxLLM:
    llm = MlxLLM(path_or_hf_repo=str(folder), **fields)  # type: ignore[arg-type]
    llm.load()
    return llm


def test_the_scripted_model_writes_its_script_with_token_counts(scripted_lm: Path) -> None:
    llm = _llm(scripted_lm)
    chat = [{"role": "user", "content": "Who?"}]
    (output,) = llm.generate([chat], num_generations=2, max_tokens=12)
    assert output["generations"] == [SCRIPTED_TEXT, SCRIPTED_TEXT]
    prompt = llm.prepare_input(chat)
    assert prompt == "<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\n"
    prompt_tokens = len(llm._tokenizer.encode(prompt))
    assert output["statistics"] == {  # 5 pieces + the end-of-turn token
        "input_tokens": [prompt_tokens, prompt_tokens],
        "output_tokens": [6, 6],
    }


def test_sampling_settings_reach_mlx_and_max_tokens_bounds_the_reply(random_lm: Path) -> None:
    llm = _llm(random_lm)
    chats = [[{"role": "user", "content": "Hello world!"}], [{"role": "user", "content": "A cat"}]]
    outputs = llm.generate(
        chats, num_generations=3, max_tokens=5, temp=0.9, top_p=0.9, top_k=20, max_kv_size=64
    )
    assert len(outputs) == 2
    for output in outputs:
        assert len(output["generations"]) == 3
        assert all(isinstance(text, str) for text in output["generations"])
        assert all(1 <= n <= 5 for n in output["statistics"]["output_tokens"]), output
    with pytest.raises(Exception, match="does not accept the generation setting 'temperature'"):
        llm.generate(chats, temperature=0.5)


def test_magpie_renders_up_to_a_user_turn(scripted_lm: Path) -> None:
    llm = _llm(scripted_lm, use_magpie_template=True, magpie_pre_query_template="chatml")
    check_magpie_turn(llm, max_tokens=12)


def test_structured_output_is_validated_and_a_reply_that_never_fits_is_an_error(
    scripted_lm: Path,
) -> None:
    llm = _llm(scripted_lm, structured_output_retries=1)
    chat = [{"role": "user", "content": "Give a person as JSON"}]
    valid, wrong = llm.generate_results(
        [(chat, {"format": "json", "schema": Person}), (chat, {"format": "json", "schema": CITY})]
    )
    assert not isinstance(valid, BaseException)
    assert Person.model_validate_json(valid["generations"][0]) == Person(name="Ada", age=36)
    assert isinstance(wrong, StructuredOutputError)
    assert "2 request(s)" in str(wrong) and "city" in str(wrong)


def test_a_prompt_mlx_fails_on_is_its_inputs_error_and_the_others_keep_their_replies(
    scripted_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlx_lm

    real = mlx_lm.stream_generate

    def stream_generate(model: object, tokenizer: object, prompt: str, **kwargs: object):  # type: ignore[no-untyped-def]
        if "poison" in prompt:
            raise ValueError("mlx could not run this prompt")
        return real(model, tokenizer, prompt, **kwargs)

    llm = _llm(scripted_lm)
    monkeypatch.setattr(mlx_lm, "stream_generate", stream_generate)
    good, bad = llm.generate_results(
        [[{"role": "user", "content": "Who?"}], [{"role": "user", "content": "poison"}]],
        max_tokens=12,
    )
    assert not isinstance(good, BaseException) and good["generations"] == [SCRIPTED_TEXT]
    assert isinstance(bad, ValueError) and "could not run" in str(bad)


def test_a_pipeline_run_keeps_every_row_then_answers_from_the_cache(scripted_lm: Path) -> None:
    def build() -> Pipeline:
        with Pipeline(name="mlx-tiny") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": "Ada?"}, {"instruction": "Age?"}])
            text = TextGeneration(name="text", llm=MlxLLM(path_or_hf_repo=str(scripted_lm)))
            city = TextGeneration(
                name="city",
                llm=MlxLLM(
                    path_or_hf_repo=str(scripted_lm),
                    structured_output={"format": "json", "schema": CITY},
                    structured_output_retries=0,
                ),
            )
            load >> [text, city]
        return pipeline

    distiset = build().run(progress=False)
    rows = distiset["text"]["train"].to_list()
    assert [row["generation"] for row in rows] == [SCRIPTED_TEXT, SCRIPTED_TEXT]
    assert all(row["model_name"] == str(scripted_lm) for row in rows)
    assert rows[0][METADATA_COLUMN]["statistics_text"]["output_tokens"] == 6
    failed = distiset["city"]["train"].to_list()
    assert [row["instruction"] for row in failed] == ["Ada?", "Age?"]  # no row lost
    assert all(row["generation"] is None for row in failed)
    assert all("city" in row[METADATA_COLUMN]["error_city"] for row in failed)
    assert distiset.summary is not None and distiset.summary.requests_sent == 4

    again = build().run(progress=False)
    assert again.summary is not None
    # the text rows come from the cache; the failed city rows were not cached, so re-asked
    assert again.summary.cache_hits == 2 and again.summary.requests_sent == 2
    assert [r["generation"] for r in again["text"]["train"].to_list()] == [SCRIPTED_TEXT] * 2


def test_without_mlx_lm_the_error_names_the_extra_and_the_platforms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mlx_lm", None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[mlx\]") as raised:
        MlxLLM(path_or_hf_repo="some/model").load()
    assert "macOS on Apple silicon" in str(raised.value) and "Linux" in str(raised.value)


def test_spec_prefix_builds_an_mlx_llm(scripted_lm: Path) -> None:
    from stillroom.models.llms import llm_from_spec

    llm = llm_from_spec(f"mlx:{scripted_lm}")
    assert isinstance(llm, MlxLLM) and llm.path_or_hf_repo == str(scripted_lm)
