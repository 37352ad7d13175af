"""Templates cannot run code: checked when set, rendered in Jinja2's sandbox, refused with
an error naming the step and the field, from Python, from a pipeline file and from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import EvolInstruct, EvolQuality, TextGeneration
from stillroom.utils import templates
from stillroom.utils.templates import UnsafeTemplateError

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize(
    ("template", "refused"),
    [
        ("{{ cycler.__init__.__globals__ }}{{ instruction }}", "'__init__'"),
        ("{{ instruction.__class__ }}", "`instruction.__class__`"),
        ("{{ instruction['__class__'] }}", "`instruction['__class__']`"),
        ("{{ instruction._private }}", "'_private'"),
        ("{{ instruction|attr('__class__') }}", "through the 'attr' filter"),
        ("{{ [instruction]|map(attribute='__class__')|list }}", "through the 'map' filter"),
        ("{{ [instruction]|selectattr('x.__doc__')|list }}", "'__doc__'"),
        ("{% for c in instruction.mro() %}{{ instruction }}{% endfor %}", "'mro'"),
        ("{% if instruction %}{{ instruction.gi_frame }}{% endif %}", "'gi_frame'"),
    ],
)
def test_the_static_check_names_the_step_the_field_and_the_expression(
    template: str, refused: str
) -> None:
    with pytest.raises(UnsafeTemplateError) as caught:
        TextGeneration(name="gen", llm=MockLLM(responses="x"), template=template)
    message = str(caught.value)
    assert message.startswith("Step 'gen' (TextGeneration): field 'template' is refused")
    assert refused in message and "(line 1)" in message


def test_a_step_without_a_name_yet_is_named_by_its_class() -> None:
    with pytest.raises(UnsafeTemplateError, match=r"^TextGeneration: field 'template'"):
        TextGeneration(llm=MockLLM(responses="x"), template="{{ instruction.__class__ }}")


def test_assigning_a_template_later_is_checked_too() -> None:
    task = TextGeneration(name="gen", llm=MockLLM(responses="x"))
    with pytest.raises(UnsafeTemplateError, match=r"Step 'gen' \(TextGeneration\)"):
        task.template = "{{ instruction.__class__ }}"
    task.template = "Say: {{ instruction }}"
    assert task.format_input({"instruction": "hi"}) == [{"role": "user", "content": "Say: hi"}]


@pytest.mark.parametrize("task_class", [EvolInstruct, EvolQuality])
def test_mutation_templates_are_checked(task_class: type) -> None:
    with pytest.raises(UnsafeTemplateError) as caught:
        task_class(
            name="evo",
            llm=MockLLM(responses="x"),
            mutation_templates={"OK": "{{ instruction }}", "BAD": "{{ instruction.__doc__ }}"},
        )
    message = str(caught.value)
    assert f"Step 'evo' ({task_class.__name__})" in message
    assert "field 'mutation_templates' (template 'BAD')" in message
    assert "`instruction.__doc__`" in message


def test_a_syntax_error_names_the_step_and_the_field() -> None:
    with pytest.raises(Exception, match=r"^Step 'gen' \(TextGeneration\): field 'template' is not"):
        TextGeneration(name="gen", llm=MockLLM(responses="x"), template="{{ instruction ")


def test_the_sandbox_refuses_what_the_static_check_cannot_see() -> None:
    # The attribute name arrives as data, so only the sandbox can refuse it.
    source = "{{ instruction[key] }}"
    with pytest.raises(UnsafeTemplateError, match=r"^Step 'x' \(T\): field 'f' did something"):
        templates.render(
            source, owner="Step 'x' (T)", field="field 'f'", instruction="a", key="__class__"
        )
    # Calls that change a list are refused at render time, naming the step.
    task = TextGeneration(
        name="gen",
        llm=MockLLM(responses="x"),
        template="{% set seen = [] %}{{ seen.append(instruction) }}{{ instruction }}",
    )
    with pytest.raises(UnsafeTemplateError, match=r"^Step 'gen' \(TextGeneration\): field 'templ"):
        task.format_input({"instruction": "hi"})


def test_ordinary_templates_still_render() -> None:
    task = TextGeneration(
        llm=MockLLM(responses="x"),
        template="{% for w in text.split() %}{{ w|upper }}_{% endfor %}{{ text|replace('_', '-') }}",
        columns=["text"],
    )
    assert task.format_input({"text": "a b_c"})[0]["content"] == "A_B_C_a b-c"


def test_the_cli_refuses_a_pipeline_file_with_an_unsafe_template_before_any_request(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    with Pipeline(name="unsafe") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "q"}])
        task = TextGeneration(name="gen", llm=AsyncMockLLM(responses="hello"))
        load >> task
    config = pipeline.save(tmp_path / "p.yaml")
    evil = f"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}{{{{ instruction }}}}"
    text = config.read_text()
    assert "template: '{{ instruction }}'" in text
    config.write_text(text.replace("template: '{{ instruction }}'", f'template: "{evil}"'))

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stillroom",
            "pipeline",
            "run",
            "--config",
            str(config),
            "--dry-run",
        ],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert not marker.exists(), "the template ran a shell command"
    assert result.returncode != 0
    assert "Step 'gen' (TextGeneration): field 'template' is refused" in result.stderr
    assert "`cycler.__init__`" in result.stderr
    assert "LLM requests" not in result.stderr


@pytest.mark.parametrize("source", ["{{ instruction }}", "{{instruction}}", "{{  instruction\n}}"])
@pytest.mark.parametrize("value", ["plain", "", "  spaces and\nnew lines\n", "<b>&</b>", "{{ x }}"])
def test_a_lone_variable_renders_as_jinja_renders_it(source: str, value: str) -> None:
    """The shortcut for `{{ name }}` alone gives exactly what the sandbox renders."""
    from stillroom.utils.templates import _compiled

    fast = templates.render(source, owner="o", field="f", instruction=value)
    assert fast == _compiled(source).render(instruction=value)
