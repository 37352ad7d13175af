"""The GeneratorTask contract: yield forms, model_name injection, signature and load checks."""

from __future__ import annotations

from typing import Any

import pytest

from stillroom.errors import NotLoadedError, StepDefinitionError, StillroomError
from stillroom.models import MockLLM
from stillroom.models.llms.openai import OpenAILLM
from stillroom.pipeline import Pipeline
from stillroom.steps.tasks import GeneratorTask
from stillroom.steps.typing import GeneratorOutput


class Jokes(GeneratorTask):
    """Yields `count` rows in the form chosen by `form`."""

    form: str = "dict"
    count: int = 3

    def process(self, offset: int = 0) -> GeneratorOutput:
        for i in range(offset, self.count):
            reply = self.llm.generate([[{"role": "user", "content": f"joke {i}"}]])
            row = self.format_output(reply[0]["generations"][0])
            if self.form == "dict":
                yield row
            elif self.form == "list":
                yield [row]
            else:
                yield [row], i == self.count - 1

    @property
    def outputs(self) -> list[str]:
        return ["joke"]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"joke": output}


@pytest.mark.parametrize("form", ["dict", "list", "tuple"])
def test_every_yield_form_gets_model_name(form: str) -> None:
    task = Jokes(form=form, llm=MockLLM(model="m1", responses=["a", "b", "c"]))
    task.load()
    items = list(task.process())
    rows = [item[0] if form == "tuple" else item for item in items]
    assert rows == [[{"joke": x, "model_name": "m1"}] for x in "abc"]
    if form == "tuple":
        assert [last for _, last in items] == [False, False, True]


@pytest.mark.parametrize("form", ["dict", "list", "tuple"])
def test_engine_view_is_always_rows_and_is_last(form: str) -> None:
    task = Jokes(form=form, llm=MockLLM(responses="x"), output_mappings={"joke": "text"})
    task.load()
    batches = list(task.process_applying_mappings())
    if form == "tuple":  # the task says which batch is last
        assert [last for _, last in batches] == [False, False, True]
    else:  # the end of the generator says it, with an empty batch: nothing is held back
        assert [last for _, last in batches] == [False, False, False, True]
        assert batches[-1][0] == []
    assert batches[0][0] == [{"text": "x", "model_name": "mock"}]


def test_offset_is_passed_through() -> None:
    task = Jokes(llm=MockLLM(responses="x"))
    task.load()
    assert len(list(task.process(offset=2))) == 1


def test_process_before_load_says_to_call_load() -> None:
    task = Jokes(llm=OpenAILLM(model="m", api_key="k"))  # a backend that loads a client
    with pytest.raises(NotLoadedError, match=r"process\(\) was called before load\(\).*\.load\(\)"):
        task.process()


def test_unload_requires_load_again() -> None:
    task = Jokes(llm=OpenAILLM(model="m", api_key="k"))
    task.load()
    task.unload()
    with pytest.raises(NotLoadedError):
        task.process()


class _TakesInputs(GeneratorTask):
    """A generator written as a Step: distilabel accepts the class until it runs."""

    def process(self, inputs: list[dict[str, Any]]) -> GeneratorOutput:
        yield {}

    @property
    def outputs(self) -> list[str]:
        return ["x"]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {}


class _NoOffset(_TakesInputs):
    def process(self) -> GeneratorOutput:  # type: ignore[override]
        yield {}


def test_process_taking_inputs_is_rejected_before_it_runs() -> None:
    task = _TakesInputs(llm=MockLLM())  # defining and building it is allowed, as in distilabel
    task.load()
    with pytest.raises(StepDefinitionError) as info:
        task.process([])
    message = str(info.value)
    assert "_TakesInputs.process(self, inputs" in message
    assert "GeneratorTask" in message
    assert "def process(self, offset: int = 0)" in message


def test_process_without_offset_is_rejected_before_it_runs() -> None:
    task = _NoOffset(llm=MockLLM())
    task.load()
    with pytest.raises(StepDefinitionError, match="must accept `offset`"):
        task.process()


def test_a_pipeline_with_such_a_generator_is_refused_before_any_step_runs() -> None:
    llm = MockLLM()
    with Pipeline(name="wrong-generator") as pipeline:
        _TakesInputs(name="gen", llm=llm)
    with pytest.raises(StillroomError, match=r"_TakesInputs.process\(self, inputs"):
        pipeline.run(use_cache=False)
    assert llm.calls == []


def test_missing_abstract_members_cannot_be_instantiated() -> None:
    class Incomplete(GeneratorTask):
        def process(self, offset: int = 0) -> GeneratorOutput:
            yield {}

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(llm=MockLLM())


def test_yielding_something_else_names_the_step() -> None:
    class Odd(Jokes):
        def process(self, offset: int = 0) -> GeneratorOutput:
            yield "not a row"

    task = Odd(name="odd", llm=MockLLM())
    task.load()
    with pytest.raises(StillroomError, match=r"Step 'odd' \(Odd\) yielded str"):
        next(task.process())


def test_user_model_name_is_overwritten_by_the_llm() -> None:
    class Liar(Jokes):
        def process(self, offset: int = 0) -> GeneratorOutput:
            yield {"joke": "x", "model_name": "not-the-model"}

    task = Liar(llm=MockLLM(model="real"))
    task.load()
    assert next(task.process()) == [{"joke": "x", "model_name": "real"}]


def test_a_shared_llm_stays_loaded_until_its_last_user_unloads() -> None:
    class Counting(MockLLM):
        loads: int = 0
        unloads: int = 0

        def load(self) -> None:
            super().load()
            self.loads += 1

        def unload(self) -> None:
            self.unloads += 1
            super().unload()

    llm = Counting(responses="x")
    first, second = Jokes(name="a", llm=llm), Jokes(name="b", llm=llm)
    first.load()
    second.load()
    first.unload()
    assert llm.is_loaded and (llm.loads, llm.unloads) == (1, 0)
    assert next(second.process()) == [{"joke": "x", "model_name": "mock"}]
    second.unload()
    assert not llm.is_loaded and (llm.loads, llm.unloads) == (1, 1)
