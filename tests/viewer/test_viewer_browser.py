"""`stillroom view` in a real headless browser: a run seen live, filtered and searched.

The pipeline's generator yields two rows, waits for the test, then two more; the test checks
the page between the two (2 rows, the failed-rows filter, the search, the summary), then sees
the new rows appear without reloading. Each wait is bounded (Playwright's timeout, 20 s).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from stillroom.models.llms import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import GeneratorStep, GeneratorStepOutput, StepColumns
from stillroom.steps.tasks import TextGeneration

DOCS_IMAGES = Path(__file__).parents[2] / "docs" / "images"
"""Where `STILLROOM_UPDATE_SCREENSHOTS=1` saves the viewer's screenshot for the docs."""

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

GATE = threading.Event()
"""Set by the test once it has checked the page showing the first batch."""


class TwoBatches(GeneratorStep):
    """Yields two questions, waits for `GATE` (60 s at most), then yields two more."""

    @property
    def outputs(self) -> StepColumns:
        return ["instruction"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        yield [{"instruction": "What is a stillroom?"}, {"instruction": "broken question"}], False
        if not GATE.wait(60):
            raise TimeoutError("the test never released the second batch")
        yield [{"instruction": "Why distil?"}, {"instruction": "Name a herb."}], True


def answer(messages: list[dict[str, str]]) -> str | Exception:
    question = messages[-1]["content"]
    if question == "broken question":
        return RuntimeError("the server said no")
    return f"An answer to: {question}"


def test_the_viewer_shows_a_run_live(page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect

    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    GATE.clear()
    with Pipeline(name="viewed") as pipeline:
        TwoBatches() >> TextGeneration(llm=AsyncMockLLM(responses=answer, latency=0.05))
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["distiset"] = pipeline.run(view=True, progress=False, checkpoint_interval=0.2)
        except BaseException as exc:
            outcome["error"] = exc

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        for _ in range(200):  # the viewer starts before the first step
            if opened or not runner.is_alive():
                break
            threading.Event().wait(0.05)
        assert opened, outcome.get("error")
        page.goto(opened[0])

        count = page.locator("#row-count")
        expect(count).to_have_text("2 rows")
        rows = page.locator("#rows tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#rows thead")).to_contain_text("generation")

        page.check("#failed-only")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_class("failed")
        expect(rows.first).to_contain_text("broken question")
        rows.first.click()
        expect(page.locator("#detail")).to_contain_text("the server said no")
        page.uncheck("#failed-only")
        expect(rows).to_have_count(2)

        page.fill("#search", "stillroom")
        expect(rows).to_have_count(1)
        expect(page.locator("#matched")).to_have_text("1 matching")
        page.fill("#search", "")
        expect(rows).to_have_count(2)
        expect(page.locator("#summary")).to_contain_text("text_generation")

        GATE.set()  # the run writes two more rows; the page shows them without a reload
        expect(count).to_have_text("4 rows")
        expect(rows).to_have_count(4)
        expect(page.locator("#state")).to_contain_text("finished")
        expect(page.locator("#summary")).to_contain_text("1 failed row")
        if os.environ.get("STILLROOM_UPDATE_SCREENSHOTS") == "1":
            rows.nth(2).click()
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(DOCS_IMAGES / "viewer.png"), full_page=True)
    finally:
        GATE.set()
        runner.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["distiset"]["default"]["train"].num_rows == 4
