"""`ImageGeneration` (and `ImageTask`): a prompt column in, a base64 image out, through the
image generation models; directly and in a pipeline against the mock server."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.models import OpenAILLM
from stillroom.models.image_generation import AsyncImageGenerationModel, OpenAIImageGeneration
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import ImageGeneration, ImageTask
from stillroom.steps.tasks.base import METADATA_COLUMN
from stillroom.steps.tasks.base import ImageTask as ImageTaskFromBase
from stillroom.testing import MockLLMServer
from stillroom.testing.images import image_of
from stillroom.utils.image_bytes import png_bytes

pytestmark = pytest.mark.timeout(60)

FAST = {"retry_backoff": 0.001, "timeout": 5.0, "max_retries": 2}


class PaintByNumbers(AsyncImageGenerationModel):
    """An image model answering in-process: one PNG per generation, the prompt's length as
    its colour, and a failure for prompts starting with "fail"."""

    @property
    def model_name(self) -> str:
        return "paint-by-numbers"

    async def agenerate(  # type: ignore[override]
        self, input: str, num_generations: int = 1
    ) -> list[dict[str, Any]]:
        if input.startswith("fail"):
            raise RuntimeError("the canvas tore")
        return [
            {"images": [base64.b64encode(png_bytes(1, 1, (len(input), i, 0))).decode()]}
            for i in range(num_generations)
        ]


def decoded(text: str) -> bytes:
    return base64.b64decode(text)


def test_image_task_is_at_distilabels_paths():
    assert ImageTask is ImageTaskFromBase
    assert issubclass(ImageGeneration, ImageTask)


def test_process_gives_an_image_per_prompt_and_keeps_failed_rows():
    task = ImageGeneration(name="paint", image_generation_model=PaintByNumbers())
    task.load()
    try:
        (rows,) = list(task.process([{"prompt": "a cat"}, {"prompt": "fail now"}]))
    finally:
        task.unload()
    assert [row["prompt"] for row in rows] == ["a cat", "fail now"]
    assert decoded(rows[0]["image"]) == png_bytes(1, 1, (5, 0, 0))
    assert rows[0]["model_name"] == "paint-by-numbers"
    assert "error_paint" not in rows[0][METADATA_COLUMN]
    assert rows[1]["image"] is None
    assert "the canvas tore" in rows[1][METADATA_COLUMN]["error_paint"]


def test_num_generations_make_a_row_each():
    task = ImageGeneration(name="paint", image_generation_model=PaintByNumbers(), num_generations=2)
    task.load()
    try:
        (rows,) = list(task.process([{"prompt": "dog"}]))
    finally:
        task.unload()
    assert [decoded(row["image"]) for row in rows] == [
        png_bytes(1, 1, (3, 0, 0)),
        png_bytes(1, 1, (3, 1, 0)),
    ]


def test_an_llm_is_refused():
    with pytest.raises(StillroomError, match="image_generation_model"):
        ImageGeneration(
            image_generation_model=PaintByNumbers(),
            llm=OpenAILLM(model="gpt-4o", api_key="sk-x"),
        )


def test_the_dump_holds_the_image_model_not_llm():
    task = ImageGeneration(
        name="paint",
        image_generation_model=OpenAIImageGeneration(model="gpt-image-1", api_key="sk-secret"),
    )
    dumped = task.dump()
    assert "llm" not in dumped
    assert dumped["image_generation_model"]["model"] == "gpt-image-1"
    assert "sk-secret" not in json.dumps(dumped)


def run_pipeline(tmp_path: Path, server: MockLLMServer, **task_options: Any):
    prompts = ["a red fox", "a blue whale", "a green frog"]
    with Pipeline(name="images", cache_dir=tmp_path / "cache") as pipeline:
        model = OpenAIImageGeneration(
            model="gpt-image-1", base_url=server.base_url, api_key="k-mock", **FAST
        )
        LoadDataFromDicts(data=[{"prompt": p} for p in prompts]) >> ImageGeneration(
            name="paint", image_generation_model=model, **task_options
        )
    return prompts, pipeline.run(progress=False)


def test_pipeline_against_the_mock_server(tmp_path: Path):
    with MockLLMServer(api_key="k-mock", fail_first=1, fail_with=429, retry_after=0.01) as server:
        prompts, distiset = run_pipeline(tmp_path, server)
        stats = server.stats()
    rows = {row["prompt"]: row for row in distiset["default"]["train"].to_list()}
    assert sorted(rows) == sorted(prompts)
    for prompt in prompts:
        assert decoded(rows[prompt]["image"]) == image_of(prompt, 0)
        assert rows[prompt]["model_name"] == "gpt-image-1"
    assert stats.requests_by_endpoint == {"images.generations": 6}  # a 429, then the image
    assert stats.errors_by_status == {429: 3}


def test_a_second_run_takes_the_images_from_the_cache(tmp_path: Path):
    with MockLLMServer(api_key="k-mock") as server:
        run_pipeline(tmp_path, server)
        _, distiset = run_pipeline(tmp_path, server)
        assert server.stats().requests_total == 3
    assert all(row["image"] for row in distiset["default"]["train"].to_list())


def test_save_artifacts_writes_each_image(tmp_path: Path):
    with MockLLMServer(api_key="k-mock") as server:
        _, distiset = run_pipeline(tmp_path, server, save_artifacts=True, image_format="PNG")
    rows = distiset["default"]["train"].to_list()
    assert distiset.artifacts_path is not None
    for row in rows:
        name = f"{hashlib.md5(row['prompt'].encode()).hexdigest()}.png"
        assert row["image_path"] == f"artifacts/paint/images/{name}"
        saved = distiset.artifacts_path / "paint" / "images" / name
        assert saved.read_bytes() == image_of(row["prompt"], 0)
    metadata = distiset.artifacts_path / "paint" / "images" / "metadata.json"
    assert json.loads(metadata.read_text()) == {"type": "image"}


def test_saving_as_jpeg_without_pillow_fails_at_load(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if the vision extra were missing
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    task = ImageGeneration(
        name="paint", image_generation_model=PaintByNumbers(), save_artifacts=True
    )
    with pytest.raises(MissingExtraError, match=r"stillroom\[vision\]"):
        task.load()
    png_task = ImageGeneration(
        name="paint",
        image_generation_model=PaintByNumbers(),
        save_artifacts=True,
        image_format="PNG",
    )
    png_task.load()  # PNG images are saved as they come
    png_task.unload()
