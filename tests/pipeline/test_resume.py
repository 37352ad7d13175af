"""A run killed at any point (SIGKILL, Ctrl-C, Ctrl-C twice) resumes with every row once and
without sending any finished request again (counted by the LLM, which records each request
it finished in a file).

A SIGKILL can land between the LLM returning a reply (and writing its record) and the engine
journaling it, microseconds later; such a reply is lost with the process and asked again. The
SIGKILL test reads what the killed run saved (database and journal) to tell those apart.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from stillroom.distiset import Distiset

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
ROWS = 300


def start(
    record: Path,
    cache_dir: Path,
    latency: float = 0.03,
    storage: str = "jsonl",
    slow: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    env = {
        **(slow or {}),
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        "STILLROOM_CACHE_DIR": str(cache_dir),
        "RECORDING_LATENCY": str(latency),
        "STORAGE_FORMAT": storage,
    }
    return subprocess.Popen(
        [sys.executable, str(HERE / "resume_script.py"), str(record), str(ROWS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def recorded(record: Path) -> list[str]:
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
        lines = journal.read_text().splitlines()
        values += [line.split("\t", 1)[1] for line in lines if "\t" in line]
    replies = [json.loads(value)["generations"][0] for value in values]
    return {reply.removeprefix("answer to ") for reply in replies}


def check_complete(
    record: Path, cache_dir: Path, storage: str = "jsonl", may_repeat: frozenset[str] = frozenset()
) -> None:
    """Resume to the end; then every row is there once, in order, and no request repeated
    (but those in `may_repeat`, whose replies the killed run never saved)."""
    code, out, err = finish(start(record, cache_dir, storage=storage))
    assert code == 0, err
    assert json.loads(out.splitlines()[-1]) == {"completed": True, "rows": ROWS, "resumed": True}
    (data_dir,) = cache_dir.glob("pipelines/resume/*/data")
    dataset = Distiset.load_from_disk(data_dir)["default"]["train"]
    assert {f.suffix for f in dataset.files} == {f".{storage}"}
    rows = dataset.to_list()
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(ROWS)]
    assert all(r["shout"] == f"ANSWER TO Q{i}" for i, r in enumerate(rows))
    counts = Counter(recorded(record))
    assert set(counts) == {f"q{i}" for i in range(ROWS)}
    assert {p for p, n in counts.items() if n > 1} <= may_repeat


@pytest.mark.parametrize("storage", ["jsonl", "parquet"])
def test_sigkill_at_several_points_then_resume(
    tmp_path: Path, cache_dir: Path, storage: str
) -> None:
    if storage == "parquet":
        pytest.importorskip("pyarrow")
    record = tmp_path / "requests.txt"
    lost: set[str] = set()
    for kill_after in (60, 150, 230):
        process = start(record, cache_dir, storage=storage)
        wait_for_requests(process, record, kill_after)
        process.kill()
        process.wait()
        unsaved = set(recorded(record)) - saved_prompts(cache_dir)
        assert len(unsaved) <= 2, f"replies received but not saved: {sorted(unsaved)}"
        lost |= unsaved
    assert 230 <= len(recorded(record)) < ROWS
    check_complete(record, cache_dir, storage, may_repeat=frozenset(lost))


def test_ctrl_c_stops_cleanly_then_resume(tmp_path: Path, cache_dir: Path) -> None:
    record = tmp_path / "requests.txt"
    process = start(record, cache_dir)
    wait_for_requests(process, record, 100)
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process)
    assert code == 0, err
    stopped = json.loads(out.splitlines()[-1])
    assert stopped["completed"] is False and 0 < stopped["rows"] < ROWS
    assert "Ctrl-C" in err and "run it again to resume" in err
    check_complete(record, cache_dir)


def test_second_ctrl_c_stops_at_once_then_resume(tmp_path: Path, cache_dir: Path) -> None:
    record = tmp_path / "requests.txt"
    # the first 8 rows answer at once, the rest take 20 s: a clean stop would wait for them
    slow = {"RECORDING_SLOW_FROM": "8", "RECORDING_SLOW_LATENCY": "20"}
    process = start(record, cache_dir, latency=0.01, slow=slow)
    wait_for_requests(process, record, 8)
    time.sleep(0.2)  # the next requests are in flight
    process.send_signal(signal.SIGINT)
    time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process)
    assert code != 0 and "KeyboardInterrupt" in err
    assert len(recorded(record)) == 8  # it did not wait for the slow requests
    check_complete(record, cache_dir)
