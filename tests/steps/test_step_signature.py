"""`Step.signature`: a hash of the step's settings, as distilabel's property is."""

from __future__ import annotations

from stillroom.mixins.signature import SIGNATURE_EXCLUDED_BY_DEFAULT, SignatureMixin
from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import KeepColumns, Step
from stillroom.steps.tasks import TextGeneration


def _keep(**kwargs: object) -> KeepColumns:
    with Pipeline(name="signatures"):
        return KeepColumns(name="keep", **kwargs)  # type: ignore[arg-type]


def test_equal_settings_give_equal_signatures_and_a_setting_changes_it() -> None:
    first = _keep(columns=["a"])
    assert len(first.signature) == 40 and int(first.signature, 16) >= 0  # SHA-1, hex
    assert first.signature == _keep(columns=["a"]).signature
    assert first.signature != _keep(columns=["b"]).signature
    assert first.signature != _keep(columns=["a", "b"]).signature
    assert first.signature != _keep(columns=["a"], output_mappings={"a": "z"}).signature


def test_how_a_step_runs_is_left_out() -> None:
    plain = _keep(columns=["a"])
    assert _keep(columns=["a"], input_batch_size=7).signature == plain.signature
    assert _keep(columns=["a"], resources={"replicas": 3}).signature == plain.signature
    assert "exclude_from_signature" not in plain.dump()
    assert isinstance(plain, SignatureMixin)


def test_exclude_from_signature_drops_named_settings_at_any_depth() -> None:
    with Pipeline(name="signatures"):
        cold = TextGeneration(name="t", llm=MockLLM(generation_kwargs={"temperature": 0.1}))
        hot = TextGeneration(name="t2", llm=MockLLM(generation_kwargs={"temperature": 0.9}))
    hot.name = "t"
    assert cold.signature != hot.signature  # the LLM's settings are part of it
    for task in (cold, hot):
        task.exclude_from_signature = {*SIGNATURE_EXCLUDED_BY_DEFAULT, "llm_generation_kwargs"}
    assert cold.signature == hot.signature  # by flattened path
    cold.exclude_from_signature = hot.exclude_from_signature = {"llm"}
    assert cold.signature == hot.signature  # by key, the whole subtree


def test_a_custom_step_has_one_too() -> None:
    class Upper(Step):
        suffix: str = "!"

        def process(self, inputs):  # type: ignore[no-untyped-def, override]
            yield inputs

    with Pipeline(name="signatures"):
        a, b = Upper(name="u", suffix="!"), Upper(name="v", suffix="?")
    b.name = "u"
    assert a.signature != b.signature
    b.suffix = "!"
    assert a.signature == b.signature
