"""A pipeline run in a subprocess by the resume tests: generator >> task >> step.

Usage: RECORDING_LATENCY=seconds [STORAGE_FORMAT=parquet] [REPLY_PADDING=chars]
resume_script.py RECORD_FILE ROWS (REPLY_PADDING makes each reply that much longer)
With MOCK_SERVER_URL set, the task asks that mock OpenAI-compatible server instead (which
counts the requests; RECORD_FILE is then unused).
Prints one JSON line: {"completed": bool, "rows": int, "resumed": bool}.
"""

from __future__ import annotations

import json
import os
import sys

from pipeline_helpers import RecordingLLM, Shout

from stillroom.models import OpenAILLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

if __name__ == "__main__":
    record, rows = sys.argv[1], int(sys.argv[2])
    server_url = os.environ.get("MOCK_SERVER_URL")
    padding_size = int(os.environ.get("REPLY_PADDING", "0"))
    padding = " " + "x" * padding_size if padding_size else ""
    if server_url:  # the mock OpenAI-compatible server counts the requests itself
        llm = OpenAILLM(
            model="mock-model", base_url=server_url, max_concurrent_requests=8, retry_backoff=0.01
        )
    else:
        llm = RecordingLLM(
            record_path=record,
            responses=lambda m: "answer to " + m[-1]["content"] + padding,
            max_concurrent_requests=8,
        )
    with Pipeline(name="resume") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"q{i}"} for i in range(rows)], batch_size=10
        )
        load >> TextGeneration(llm=llm, input_batch_size=7) >> Shout(input_batch_size=4)
    storage = os.environ.get("STORAGE_FORMAT", "jsonl")
    distiset = pipeline.run(checkpoint_interval=0.1, progress=False, storage_format=storage)
    summary = distiset.summary
    result = {
        "completed": summary.completed,
        "rows": summary.rows["default"],
        "resumed": summary.resumed,
    }
    print(json.dumps(result), flush=True)
