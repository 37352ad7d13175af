"""A run killed at any point (SIGKILL, Ctrl-C, Ctrl-C twice) resumes with every row once and
without sending any finished request again (counted by the LLM, which records each request
it finished in a file).

A SIGKILL can land between the LLM returning a reply (and writing its record) and the engine
journaling it, microseconds later; such a reply is lost with the process and asked again. The
SIGKILL test reads what the killed run saved (database and journal) to tell those apart.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from resume_helpers import (
    ROWS,
    check_complete,
    finish,
    recorded,
    saved_prompts,
    start,
    wait_for_requests,
)

pytestmark = pytest.mark.timeout(90)


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


def start_with_requests_in_flight(
    record: Path, cache_dir: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """A run whose first 8 rows answer at once and the rest take 20 s; it returns once the
    slow requests are in flight (a clean stop would wait for them)."""
    slow = {"RECORDING_SLOW_FROM": "8", "RECORDING_SLOW_LATENCY": "20", **(env or {})}
    process = start(record, cache_dir, latency=0.01, extra_env=slow)
    wait_for_requests(process, record, 8)
    time.sleep(0.2)
    return process


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_stops_at_once_then_resume(
    tmp_path: Path, cache_dir: Path, signum: signal.Signals
) -> None:
    record = tmp_path / "requests.txt"
    process = start_with_requests_in_flight(record, cache_dir)
    began = time.monotonic()
    process.send_signal(signum)
    time.sleep(0.1)
    process.send_signal(signum)
    code, _, err = finish(process)
    if signum == signal.SIGINT:
        assert code != 0 and "KeyboardInterrupt" in err
    else:
        assert code == 143, err
    assert time.monotonic() - began < 6  # not the 8 s grace period, nor the 20 s requests
    assert len(recorded(record)) == 8
    check_complete(record, cache_dir)


def test_sigterm_finishes_the_requests_in_flight_saves_and_exits_143(
    tmp_path: Path, cache_dir: Path
) -> None:
    record = tmp_path / "requests.txt"
    process = start(record, cache_dir)
    wait_for_requests(process, record, 100)
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process)
    assert code == 143, err
    assert "SIGTERM" in err and "Run the same command again to resume" in err
    assert 100 <= len(recorded(record)) < ROWS
    # every request it had sent was answered and saved before it exited
    assert set(recorded(record)) <= saved_prompts(cache_dir)
    check_complete(record, cache_dir)


def test_sigterm_waits_at_most_the_grace_period(tmp_path: Path, cache_dir: Path) -> None:
    record = tmp_path / "requests.txt"
    process = start_with_requests_in_flight(record, cache_dir, {"STILLROOM_SIGTERM_GRACE": "1"})
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process)
    assert code == 143, err
    assert time.monotonic() - began < 10  # not the 20 s the slow requests take
    assert len(recorded(record)) == 8
    check_complete(record, cache_dir)


@pytest.mark.timeout(240)
def test_twenty_random_sigkills_over_3000_rows(tmp_path: Path, cache_dir: Path) -> None:
    """Every row exactly once in the end, and a request is only ever sent twice when the
    killed run had its reply but had not saved it yet (read from its database and journal
    right after each kill): the microseconds between the LLM answering and the journal
    write. Timing bounds would be flaky on a loaded machine; this check is exact."""
    record = tmp_path / "requests.txt"
    rows = 3000
    chooser = random.Random(20)
    targets = sorted(chooser.sample(range(50, rows - 50), 20))
    unsaved: set[str] = set()
    for target in targets:
        process = start(record, cache_dir, latency=0.002, rows=rows)
        wait_for_requests(process, record, min(target, len(recorded(record)) + 20))
        process.kill()
        process.wait()
        lost = set(recorded(record)) - saved_prompts(cache_dir)
        assert len(lost) <= 8, f"more replies unsaved than requests in flight: {sorted(lost)}"
        unsaved |= lost
    check_complete(record, cache_dir, rows=rows, may_repeat=frozenset(unsaved))
