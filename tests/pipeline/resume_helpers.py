"""Running `resume_script.py` in a subprocess, and checking what its runs left behind."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from stillroom.distiset import Distiset

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
ROWS = 300


def start(
    record: Path,
    cache_dir: Path,
    latency: float = 0.03,
    storage: str = "jsonl",
    extra_env: dict[str, str] | None = None,
    rows: int = ROWS,
) -> subprocess.Popen[str]:
    """Start the script; `extra_env` sets RECORDING_SLOW_FROM, REPLY_PADDING, ..."""
    env = {
        **(extra_env or {}),
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        "STILLROOM_CACHE_DIR": str(cache_dir),
        "RECORDING_LATENCY": str(latency),
        "STORAGE_FORMAT": storage,
    }
    return subprocess.Popen(
        [sys.executable, str(HERE / "resume_script.py"), str(record), str(rows)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def recorded(record: Path) -> list[str]:
    """The prompts the LLM answered, in order, over every run."""
    return record.read_text().split() if record.exists() else []


def wait_for_requests(process: subprocess.Popen[str], record: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(recorded(record)) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def saved_prompts(cache_dir: Path) -> set[str]:
    """The prompts whose replies a (killed) run saved: in the database or its journals."""
    directory = cache_dir / "pipelines" / "resume"
    values = []
    if (directory / "cache.sqlite").exists():
        with sqlite3.connect(directory / "cache.sqlite") as connection:
            values += [row[0] for row in connection.execute("SELECT value FROM requests")]
    for journal in directory.glob("journal-*.log"):
        lines = journal.read_text().split("\n")
        complete = lines[:-1]  # the last one is empty, or torn by a kill or a full disk
        values += [line.split("\t", 1)[1] for line in complete if "\t" in line]
    replies = [json.loads(value)["generations"][0] for value in values]
    return {reply.removeprefix("answer to ").split(" ")[0] for reply in replies}


def check_complete(
    record: Path,
    cache_dir: Path,
    storage: str = "jsonl",
    may_repeat: frozenset[str] = frozenset(),
    extra_env: dict[str, str] | None = None,
    rows: int = ROWS,
) -> None:
    """Resume to the end; then every row is there once, in order, and no request repeated
    (but those in `may_repeat`, whose replies the killed run never saved)."""
    code, out, err = finish(
        start(record, cache_dir, storage=storage, extra_env=extra_env, rows=rows)
    )
    assert code == 0, err
    outcome = json.loads(out.splitlines()[-1])
    assert outcome["completed"] is True and outcome["rows"] == rows
    (data_dir,) = cache_dir.glob("pipelines/resume/*/data")
    dataset = Distiset.load_from_disk(data_dir)["default"]["train"]
    files = [f for f in (data_dir / "default" / "train").iterdir() if f.is_file()]
    assert {f.suffix for f in files} == {f".{storage}"}
    written = dataset.to_list()
    assert [r["instruction"] for r in written] == [f"q{i}" for i in range(rows)]
    assert all(
        r["shout"].split(" ")[:3] == ["ANSWER", "TO", f"Q{i}"] for i, r in enumerate(written)
    )
    counts = Counter(recorded(record))
    assert set(counts) == {f"q{i}" for i in range(rows)}
    assert {p for p, n in counts.items() if n > 1} <= may_repeat
