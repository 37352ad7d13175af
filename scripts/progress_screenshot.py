"""Record the progress display and summary of a small run as docs/images/progress.svg.

    PYTHONPATH=src python scripts/progress_screenshot.py

Runs a two-step pipeline against a mock LLM with latency and a price, on a recording rich
console (the one the progress bars and the summary print on), and saves what it showed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console

import stillroom.pipeline.logs as logs
from stillroom.models.llms import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "progress.svg"


def main() -> None:
    recording = Console(record=True, width=130, force_terminal=True, stderr=True)
    logs._console = recording
    questions = [{"instruction": f"Question {i}"} for i in range(60)]
    with tempfile.TemporaryDirectory() as cache, Pipeline(name="demo", cache_dir=cache) as pipeline:
        llm = AsyncMockLLM(
            model="gpt-4o-mini",
            responses="A short answer.",
            latency=0.05,
            max_concurrent_requests=4,
        )
        LoadDataFromDicts(data=questions, batch_size=10) >> TextGeneration(llm=llm)
        pipeline.run(progress=True)
        pipeline.run(progress=True)  # the same again: every reply from the cache
    OUT.parent.mkdir(parents=True, exist_ok=True)
    recording.save_svg(str(OUT), title="stillroom pipeline run")


if __name__ == "__main__":
    main()
