"""What a local run saves in its cache database loads back without running code: a hostile
pickle put in place of the checkpoint's state or of a pending batch is refused (the code
never runs, the error says what to do), and rows holding a class outside the safe set are
checkpointed, and resumed, only when the user allowed that class."""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import logging
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from stillroom.distiset import Distiset
from stillroom.errors import UnsafeStateError
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts, Step, StepInput
from stillroom.steps.typing import StepColumns, StepOutput
from stillroom.utils.safe_pickle import ALLOW_ENV

pytestmark = pytest.mark.timeout(60)

ROWS = 20


class AddValues(Step):
    """Adds values of several types, the address only when `address` is set."""

    address: bool = False

    @property
    def inputs(self) -> StepColumns:
        return ["n"]

    @property
    def outputs(self) -> StepColumns:
        return ["values"]

    def process(self, inputs: StepInput) -> StepOutput:
        for row in inputs:
            n = row["n"]
            row["values"] = {
                "when": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=n),
                "pair": (n, str(n)),
                "raw": bytes([n]),
                "price": decimal.Decimal(n) / 4,
            }
            if self.address:
                row["ip"] = ipaddress.IPv4Address(n)
        yield inputs


class BreakOnce(Step):
    """Presses Ctrl-C at its third batch while the file `flag` exists: the run stops, saved,
    with the batches it has not reached pending."""

    flag: str

    @property
    def inputs(self) -> StepColumns:
        return ["values"]

    def process(self, inputs: StepInput) -> StepOutput:
        if inputs[0]["n"] == 10 and Path(self.flag).exists():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the engine stops before this batch is done: the next waits
        yield inputs


def build(flag: Path, address: bool = False) -> Pipeline:
    with Pipeline(name="safe-state") as pipeline:
        load = LoadDataFromDicts(data=[{"n": n} for n in range(ROWS)], batch_size=5)
        load >> AddValues(address=address) >> BreakOnce(flag=str(flag))
    return pipeline


def database(cache_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(cache_dir / "pipelines" / "safe-state" / "cache.sqlite")


def rows_of(distiset: Distiset) -> list[dict[str, Any]]:
    return distiset["default"]["train"].to_list()


def interrupted(tmp_path: Path, address: bool = False) -> Path:
    """Run until BreakOnce stops it; the flag file (still there) is returned."""
    tmp_path.mkdir(exist_ok=True)
    flag = tmp_path / "stop"
    flag.touch()
    stopped = build(flag, address).run(progress=False)
    assert stopped.summary is not None and not stopped.summary.completed
    return flag


@pytest.mark.parametrize("payload", ["os.system", "inside a checkpoint's state"])
def test_a_hostile_checkpoint_state_is_refused_and_never_runs(
    cache_dir: Path, hostile_pickles: Any, payload: str
) -> None:
    flag = cache_dir.parent / "never"
    build(flag).run(progress=False)
    with database(cache_dir) as db:
        assert db.execute("UPDATE runs SET state = ?", (hostile_pickles.payloads[payload],))
    with pytest.raises(UnsafeStateError) as raised:
        build(flag).run(progress=False)
    assert not hostile_pickles.marker.exists()
    message = str(raised.value)
    assert "cache.sqlite" in message and "Delete the file" in message


def test_use_cache_false_starts_afresh_over_a_hostile_checkpoint(
    cache_dir: Path, hostile_pickles: Any, caplog: pytest.LogCaptureFixture
) -> None:
    flag = cache_dir.parent / "never"
    build(flag).run(progress=False)
    with database(cache_dir) as db:
        db.execute("UPDATE runs SET state = ?", (hostile_pickles.payloads["os.system"],))
    with caplog.at_level(logging.WARNING, logger="stillroom.pipeline"):
        fresh = build(flag).run(progress=False, use_cache=False)
    assert fresh.summary is not None and fresh.summary.completed and not fresh.summary.resumed
    assert len(rows_of(fresh)) == ROWS and not hostile_pickles.marker.exists()
    assert "Starting afresh, as use_cache=False asks" in caplog.text
    assert "names posix.system" in caplog.text
    build(flag).run(progress=False)  # the hostile state was replaced


def test_a_hostile_pending_batch_is_refused_and_never_runs(
    tmp_path: Path, cache_dir: Path, hostile_pickles: Any
) -> None:
    flag = interrupted(tmp_path)
    with database(cache_dir) as db:
        saved = db.execute("SELECT location, id FROM batches").fetchall()
        assert saved, "the stopped run saved its pending batches"
        location, batch_id = saved[0]
        db.execute(
            "UPDATE batches SET data = ? WHERE location = ? AND id = ?",
            (hostile_pickles.payloads["builtins.exec"], location, batch_id),
        )
    flag.unlink()
    with pytest.raises(UnsafeStateError, match=rf"batch {batch_id} of {location}") as raised:
        build(flag).run(progress=False)
    assert not hostile_pickles.marker.exists()
    assert "names builtins.exec" in str(raised.value)


def test_a_run_killed_with_pending_batches_resumes_from_them(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = interrupted(tmp_path)
    with database(cache_dir) as db:
        assert db.execute("SELECT count(*) FROM batches").fetchone()[0] > 0
    flag.unlink()
    resumed = build(flag).run(progress=False)
    monkeypatch.setenv("STILLROOM_CACHE_DIR", str(tmp_path / "reference"))
    reference = build(flag).run(progress=False)
    assert resumed.summary is not None and resumed.summary.resumed
    assert rows_of(resumed) == rows_of(reference)


def test_a_class_outside_the_safe_set_is_checkpointed_and_resumed_only_when_allowed(
    tmp_path: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # not allowed: the checkpoint is not written, and the run says which class
    with caplog.at_level(logging.WARNING, logger="stillroom.pipeline"):
        interrupted(tmp_path / "refused", address=True)
    refused = [r.getMessage() for r in caplog.records if "Cannot checkpoint" in r.getMessage()]
    assert len(refused) == 1 and f'{ALLOW_ENV}="ipaddress.IPv4Address"' in refused[0]

    monkeypatch.setenv("STILLROOM_CACHE_DIR", str(tmp_path / "allowed"))
    monkeypatch.setenv(ALLOW_ENV, "ipaddress.IPv4Address")
    flag = interrupted(tmp_path, address=True)
    flag.unlink()
    monkeypatch.delenv(ALLOW_ENV)  # a resume that does not allow it refuses the batches
    with pytest.raises(UnsafeStateError, match=r"names ipaddress\.IPv4Address"):
        build(flag, address=True).run(progress=False)
    monkeypatch.setenv(ALLOW_ENV, "ipaddress.IPv4Address")
    resumed = build(flag, address=True).run(progress=False)
    assert resumed.summary is not None and resumed.summary.resumed
    assert [row["ip"] for row in rows_of(resumed)] == [
        str(ipaddress.IPv4Address(n)) for n in range(ROWS)
    ]
