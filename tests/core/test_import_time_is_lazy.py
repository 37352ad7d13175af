"""Importing stillroom leaves the heavy libraries alone until something needs them.

Checked through `sys.modules` in a fresh interpreter (the test process has imported them
already); how long imports take is measured by benchmarks/import_time.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

DEFERRED = (
    *("openai", "anthropic", "rich", "jinja2", "httpx", "aiohttp"),
    *("yaml", "jsonschema", "tenacity", "datasketch", "numpy", "scipy"),
    *("datasets", "pyarrow", "pandas", "huggingface_hub", "fsspec"),  # a Distiset's, when used
    *("torch", "transformers", "sentence_transformers", "vllm", "mlx_lm", "llama_cpp"),
)
"""Top-level packages none of the statements below may import."""

COMMON_IMPORTS = (
    "from stillroom.pipeline import Pipeline; from stillroom.models import OpenAILLM; "
    "from stillroom.steps.tasks import TextGeneration"
)


def imported_after(code: str) -> set[str]:
    """The top-level packages of `DEFERRED` that a fresh interpreter holds after `code`."""
    script = (
        f"import json, sys\n{code}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(DEFERRED)!r})))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import stillroom",
        COMMON_IMPORTS,
        "from stillroom.llms import OpenAILLM, AnthropicLLM",
        "from stillroom.models.llms import llm_from_spec; llm_from_spec('ollama:llama3.1')",
        "from stillroom.models import TransformersLLM, vLLM, MlxLLM, SentenceTransformerEmbeddings, "
        "LlamaCppEmbeddings, vLLMEmbeddings; TransformersLLM(model='m'); vLLM(model='m')",
        "from stillroom.models.image_generation import OpenAIImageGeneration, "
        "InferenceEndpointsImageGeneration; OpenAIImageGeneration(model='m', api_key='k'); "
        "from stillroom.steps.tasks import ImageGeneration, TextGenerationWithImage",
    ],
)
def test_importing_and_building_llms_imports_no_sdk_nor_rich_nor_jinja2(code: str):
    assert imported_after(code) == set()


def test_the_openai_sdk_is_imported_when_aclient_is_first_read():
    load = (
        f"{COMMON_IMPORTS}\n"
        "llm = OpenAILLM(model='m', base_url='http://127.0.0.1:9/v1')\n"
        "llm.load()\n"
        "assert 'openai' not in sys.modules, 'load() imported the SDK'\n"
        "client = llm._aclient\n"
        "assert client is llm._aclient\n"
    )
    assert "openai" in imported_after(load)


def test_the_jinja2_sandbox_is_imported_when_a_template_is_first_rendered():
    render = "from stillroom.utils import templates; templates.render('{{ x }}', owner='o', field='f', x=1)"
    assert imported_after(render) == {"jinja2"}


def test_unload_closes_the_sdk_client_and_forgets_it():
    from stillroom.models import OpenAILLM

    llm = OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1")
    assert llm._aclient is None  # as in distilabel: no client before load()
    llm.load()
    client = llm._aclient
    llm.unload()
    assert client.is_closed()
    assert llm._aclient is None


def test_the_step_and_task_catalogues_are_imported_on_first_use() -> None:
    """`from stillroom.steps.tasks import TextGeneration` loads that task's module, not the
    twenty others (nor the dataset loaders, nor the image generation backends); each listed
    name still resolves when asked."""
    script = (
        f"import sys\n{COMMON_IMPORTS}\n"
        "print('stillroom.steps.tasks.ultrafeedback' in sys.modules, "
        "'stillroom.steps.generators.huggingface' in sys.modules, "
        "'stillroom.models.image_generation.openai' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False", "False"]
    import stillroom.models.image_generation
    import stillroom.steps
    import stillroom.steps.tasks

    for package in (stillroom.steps, stillroom.steps.tasks, stillroom.models.image_generation):
        for name in package.__all__:
            assert getattr(package, name) is not None
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            package.Nope  # noqa: B018
