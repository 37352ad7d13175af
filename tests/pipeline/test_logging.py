"""Logging a user can live with: bounded warnings, one console, levels from env and flags."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stillroom.cli import build_parser
from stillroom.errors import StillroomError
from stillroom.models import OpenAILLM
from stillroom.pipeline import Pipeline, logs
from stillroom.pipeline.failures import REPORT_INTERVAL, FailureWatch
from stillroom.pipeline.logs import LEVEL_ENV, SUMMARY_LOGGER, ConsoleHandler, setup_logging
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
ROWS = 200


def save_pipeline(path: Path, base_url: str, **llm: object) -> Path:
    with Pipeline(name="logged") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(ROWS)])
        load >> TextGeneration(
            name="gen",
            llm=OpenAILLM(model="mock-model", base_url=base_url, max_concurrent_requests=8, **llm),
        )
    return pipeline.save(path)


def run_cli(
    config: Path, cache_dir: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "stillroom", *args, "--config", str(config)],
        env={
            **os.environ,
            "PYTHONPATH": str(SRC),
            "STILLROOM_CACHE_DIR": str(cache_dir),
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.monotonic() - started


def allowed_reports(seconds: float) -> int:
    """Warnings one step may log in `seconds`: the first at once, then one per interval."""
    return 1 + int(seconds // REPORT_INTERVAL)


# --- what a run writes to stderr --------------------------------------------------------------


def test_a_dead_server_gives_a_few_lines_not_one_per_row(tmp_path: Path, cache_dir: Path) -> None:
    with MockLLMServer(rate_500=1.0, latency=0.02) as server:  # a run of about half a second
        config = save_pipeline(tmp_path / "p.yaml", server.base_url, max_retries=0)
        result, seconds = run_cli(config, cache_dir, "pipeline", "run")
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    reports = [line for line in lines if "step 'gen', last" in line]
    assert 1 <= len(reports) <= allowed_reports(seconds), lines
    assert "rows failed (first: " in reports[0] and "500" in reports[0]
    assert len(lines) <= 12 + allowed_reports(seconds), lines  # summary, progress, reports
    assert "Pipeline 'logged' finished with 200 failed rows" in result.stderr


def test_ten_percent_429s_are_summarised_not_logged_one_by_one(
    tmp_path: Path, cache_dir: Path
) -> None:
    """Needs the LLM layer's `llm.retries` counter and DEBUG retry lines (the `redact` work)."""
    with MockLLMServer(rate_429=0.1, retry_after=0.01, seed=5) as server:
        config = save_pipeline(tmp_path / "p.yaml", server.base_url, retry_backoff=0.01)
        result, seconds = run_cli(config, cache_dir, "pipeline", "run")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) <= 12 + allowed_reports(seconds), lines
    assert any("retried" in line and "429: " in line for line in lines), lines
    assert "step 'gen': retried " in result.stderr  # in the final summary


def test_quiet_keeps_warnings_and_the_summary_only(tmp_path: Path, cache_dir: Path) -> None:
    with MockLLMServer(rate_500=1.0, latency=0.02) as server:
        config = save_pipeline(tmp_path / "p.yaml", server.base_url, max_retries=0)
        before, _ = run_cli(config, cache_dir, "-q", "pipeline", "run")
        after, _ = run_cli(config, cache_dir, "pipeline", "run", "--quiet")
    for result in (before, after):
        assert "progress: " not in result.stderr
        assert "step 'gen', last" in result.stderr  # a warning
        assert "Pipeline 'logged' finished with 200 failed rows" in result.stderr
        assert "  dataset 'default': 200 rows" in result.stderr


def test_the_level_comes_from_the_environment_or_the_flag(tmp_path: Path, cache_dir: Path) -> None:
    with MockLLMServer(rate_500=1.0) as server:
        config = save_pipeline(tmp_path / "p.yaml", server.base_url, max_retries=0)
        debug, _ = run_cli(config, cache_dir, "pipeline", "run", env={LEVEL_ENV: "debug"})
        flag, _ = run_cli(
            config, cache_dir, "--log-level", "ERROR", "pipeline", "run", env={LEVEL_ENV: "DEBUG"}
        )
        wrong, _ = run_cli(config, cache_dir, "pipeline", "run", env={LEVEL_ENV: "chatty"})
    per_row = "no reply for this row"
    assert debug.stderr.count(per_row) == ROWS  # every row, at DEBUG
    assert per_row not in flag.stderr and "step 'gen', last" not in flag.stderr
    assert "Pipeline 'logged' finished with 200 failed rows" in flag.stderr
    assert wrong.returncode == 1 and f"{LEVEL_ENV}='chatty' is not a log level" in wrong.stderr


# --- the pieces -------------------------------------------------------------------------------


def test_log_options_are_taken_before_or_after_the_command() -> None:
    parse = build_parser().parse_args
    assert parse(["-q", "pipeline", "run", "--config", "p.yaml"]).log_level == "WARNING"
    assert parse(["pipeline", "run", "--config", "p", "--log-level", "debug"]).log_level == "DEBUG"
    assert not hasattr(parse(["pipeline", "run", "--config", "p.yaml"]), "log_level")
    assert parse(["--log-level", "info", "pipeline", "run", "--config", "p"]).log_level == "INFO"


@pytest.fixture
def stillroom_logger() -> Iterator[logging.Logger]:
    """The "stillroom" logger, its handlers and levels restored afterwards."""
    package = logging.getLogger("stillroom")
    summary = logging.getLogger(SUMMARY_LOGGER)
    saved = (list(package.handlers), package.level, summary.level)
    yield package
    package.handlers = saved[0]
    package.setLevel(saved[1])
    summary.setLevel(saved[2])


def unconfigure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logging as in a script that configured none (pytest's capture handler set aside)."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    logging.getLogger("stillroom").handlers = []


def test_setup_uses_the_environment_and_a_given_level_first(
    stillroom_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    unconfigured = stillroom_logger
    unconfigure(monkeypatch)
    monkeypatch.setenv(LEVEL_ENV, "debug")
    setup_logging()
    assert unconfigured.level == logging.DEBUG
    assert [type(h) for h in unconfigured.handlers] == [ConsoleHandler]
    unconfigured.handlers = []
    setup_logging("WARNING")
    assert unconfigured.level == logging.WARNING
    assert logging.getLogger(SUMMARY_LOGGER).level == logging.INFO  # quiet keeps the summary
    unconfigured.handlers = []
    monkeypatch.setenv(LEVEL_ENV, "loud")
    with pytest.raises(StillroomError, match="DEBUG, INFO, WARNING, ERROR"):
        setup_logging()


def test_an_application_s_own_logging_is_left_alone(
    stillroom_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    unconfigured = stillroom_logger
    unconfigure(monkeypatch)
    own = logging.NullHandler()
    logging.getLogger().handlers = [own]
    unconfigured.setLevel(logging.ERROR)
    monkeypatch.setenv(LEVEL_ENV, "DEBUG")
    setup_logging("DEBUG")
    assert unconfigured.handlers == [] and unconfigured.level == logging.ERROR
    assert logging.getLogger().handlers == [own]


def test_the_handler_prints_on_the_shared_console(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("[x] %(message)s"))
    record = logging.LogRecord("stillroom", logging.WARNING, __file__, 1, "[bold]%s", ("a",), None)
    monkeypatch.setattr(logs, "_console", None)  # no progress display made the console yet
    handler.emit(record)
    assert capsys.readouterr().err == "[x] [bold]a\n"  # as it is, rich not needed
    shared = logs.console()  # what the progress bars print through, on this test's stderr
    handler.emit(record)
    assert logs._console is shared
    assert capsys.readouterr().err == "[x] [bold]a\n"  # through it: no markup applied


def test_a_run_without_progress_bars_does_not_import_rich(tmp_path: Path) -> None:
    """The first log line comes before the first request: importing rich there (30 ms or
    more) would delay every run's start."""
    script = (
        "import sys\n"
        "from stillroom.pipeline import Pipeline\n"
        "from stillroom.steps import LoadDataFromDicts\n"
        "with Pipeline(name='p', cache_dir=sys.argv[1]) as p:\n"
        "    LoadDataFromDicts(data=[{'a': 1}])\n"
        "p.run(use_cache=False, progress=False)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert "[stillroom] Pipeline 'p': request cache in" in done.stderr  # the lines still show


def test_reports_come_at_most_once_per_interval_per_step(caplog: pytest.LogCaptureFixture) -> None:
    class Counter:
        def __init__(self) -> None:
            self.pending: dict[str, int] = {}

        def take_since_last(self) -> dict[str, int]:
            taken, self.pending = self.pending, {}
            return taken

    counter = Counter()
    step = type("Task", (), {"llm": type("LLM", (), {"retries": counter})()})()
    watch = FailureWatch({"gen": step, "other": object()}, interval=10.0)
    tally = watch.tallies["gen"]
    caplog.set_level(logging.WARNING, logger="stillroom.pipeline")
    start = time.monotonic()
    for second in range(31):
        for _ in range(100):
            tally.add(f"ConnectionError: refused (second {second})")
        for kind, count in (("429", 50), ("500", 7)):
            counter.pending[kind] = counter.pending.get(kind, 0) + count
        watch.poll(start + second)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 4  # at 0 s, then 10, 20 and 30 s
    assert messages[0] == (
        "step 'gen', last 1 s: 100 rows failed (first: ConnectionError: refused (second 0)); "
        "retried 57 requests (429: 50, 500: 7)"
    )
    assert messages[1] == (
        "step 'gen', last 10 s: 1,000 rows failed (first: ConnectionError: refused (second 1)); "
        "retried 570 requests (429: 500, 500: 70)"
    )
    assert watch.finish() == {"gen": {"429": 1550, "500": 217}}
