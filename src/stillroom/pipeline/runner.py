"""One call of `Pipeline.run`: validate, open the store, run or resume the engine, report.

Decides between a fresh run and a resume (a checkpoint of the same pipeline signature that
did not finish), builds the engine through the `Executor` (see `contracts.py`), runs it (see
`driver.py` for the loop and the signals), saves the final checkpoint and returns the
`RunOutcome`: where the datasets are and the summary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stillroom.constants import PIPELINE_LOG_FILENAME, RUN_STATUS_FILE, STEPS_ARTIFACTS_PATH
from stillroom.distiset.base import build_pending_distisets
from stillroom.errors import StillroomError, StorageError, UnsafeStateError
from stillroom.exceptions import StillroomOfflineBatchGenerationNotFinishedException
from stillroom.pipeline.checkpoint import checkpoint_source
from stillroom.pipeline.contracts import RunIdentity, RunOutcome
from stillroom.pipeline.driver import drive
from stillroom.pipeline.engine_state import STATE_VERSION
from stillroom.pipeline.errors import StepFailedError, batch_pending_message
from stillroom.pipeline.logs import log_file, setup_logging
from stillroom.pipeline.paths import cache_root, pipeline_dir, run_dir
from stillroom.pipeline.progress import RunSummary
from stillroom.pipeline.scheduler import Engine
from stillroom.pipeline.signature import digest, pipeline_signature
from stillroom.pipeline.store import SQLiteStore, try_lock
from stillroom.pipeline.validation import apply_parameters, validate
from stillroom.pipeline.writers import make_writer, resolve_format
from stillroom.utils import safe_pickle

if TYPE_CHECKING:
    from stillroom.pipeline.contracts import RunConfig, Store
    from stillroom.pipeline.graph import DAG
    from stillroom.pipeline.runnable import RunnablePipeline
    from stillroom.pipeline.writers import LeafWriter

logger = logging.getLogger("stillroom.pipeline")


def dataset_names(leaves: list[str]) -> dict[str, str]:
    """Leaf step -> dataset (configuration) name: "default" when there is one leaf."""
    return {leaves[0]: "default"} if len(leaves) == 1 else {leaf: leaf for leaf in leaves}


class _RunLock:
    """An exclusive lock on a run directory, so two processes never run the same pipeline."""

    def __init__(self, path: Path, pipeline_name: str) -> None:
        self.path = path
        self.pipeline_name = pipeline_name
        self.fd: int | None = None

    def __enter__(self) -> _RunLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not try_lock(self.fd):
            os.close(self.fd)
            raise StillroomError(
                f"Pipeline {self.pipeline_name!r} is already running in another process "
                f"(lock: {self.path}). Wait for it to finish, or give this run another cache_dir."
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)


class Executor(Protocol):
    """Where a run's steps execute: the store it opens and the engine it builds."""

    def open_store(self, directory: Path, strict: bool) -> Store: ...

    def engine(
        self,
        dag: DAG,
        store: Store,
        run: RunIdentity,
        writers: dict[str, LeafWriter],
        config: RunConfig,
    ) -> Engine: ...


class LocalExecutor:
    """The steps run in this process, on one asyncio loop (see `scheduler.py`); the cache
    and checkpoints are the pipeline's SQLite database."""

    def open_store(self, directory: Path, strict: bool) -> SQLiteStore:
        return SQLiteStore(directory, strict)

    def engine(
        self,
        dag: DAG,
        store: Store,
        run: RunIdentity,
        writers: dict[str, LeafWriter],
        config: RunConfig,
    ) -> Engine:
        return Engine(dag, store, run, writers, config)


def run_pipeline(pipeline: RunnablePipeline, config: RunConfig, executor: Executor) -> RunOutcome:
    """`Pipeline.run`: validate, open the store, run (or resume) the engine the executor
    builds, save, summarise. Resume decisions, signals, the summary and the errors are the
    same whatever the executor.

    A dry run (`config.row_limit`) has its own signature, so its checkpoint and datasets
    never mix with the full run's. Raises `StorageError` when the run's files cannot be
    written, `StepFailedError` when a step raised, `TooManyFailuresError` when
    `max_failed_fraction` stopped it, and SystemExit(143) after a SIGTERM."""
    dag = pipeline.dag
    validate(dag, pipeline.name, apply_parameters(dag, config.parameters))
    setup_logging()
    signature = pipeline_signature(dag)
    if config.row_limit is not None:
        signature = digest(f"{signature}:dry-run:{config.row_limit}")
    directory = pipeline_dir(cache_root(pipeline.cache_dir), pipeline.name)
    rdir = run_dir(directory, signature)
    rdir.mkdir(parents=True, exist_ok=True)
    data_dir = rdir / "data"
    build_pending_distisets(data_dir)  # an earlier run's Distiset keeps that run's rows
    for node in dag.steps.values():  # where `save_artifact` writes; the Distiset finds them there
        node.set_pipeline_artifacts_path(data_dir / STEPS_ARTIFACTS_PATH)
    if config.view:
        from stillroom.viewer import DataSource, open_viewer

        open_viewer(DataSource.for_run(rdir))
    started = time.monotonic()
    with (
        _RunLock(rdir / ".lock", pipeline.name),
        _generator_batch_size(dag, config.row_limit),
        log_file(rdir / PIPELINE_LOG_FILENAME),
    ):
        store = executor.open_store(directory, config.strict_cache)
        engine: Engine | None = None
        cleanup = contextlib.ExitStack()  # every step runs, even if one raises
        cleanup.callback(store.close)
        try:
            state, batches, resume = _open_run(store, signature, config, data_dir)
            names = dataset_names(dag.leaves)
            writers = {
                leaf: make_writer(state["meta"]["format"], data_dir / name / "train")
                for leaf, name in names.items()
            }
            run = RunIdentity(signature, state["run_id"], state["meta"])
            engine = executor.engine(dag, store, run, writers, config)
            engine.progress.status_file = rdir / RUN_STATUS_FILE
            engine.progress.pipeline = pipeline.name
            if resume:
                engine.restore(state, batches)
                logger.info("Resuming pipeline %r from its checkpoint.", pipeline.name)
            else:
                engine.start_writers()
            logger.info(
                "Pipeline %r: request cache in %s, datasets in %s. Run it again to resume (or "
                "to take answered requests from the cache); use_cache=False (--no-cache) sends "
                "every request again; `stillroom view %s` shows the rows.",
                pipeline.name,
                directory,
                data_dir,
                rdir,
            )
            engine.install_llms()
            engine.progress.start()
            cleanup.callback(engine.shutdown)
            cleanup.callback(engine.close_writers)
            cleanup.callback(engine.remove_llms)
            finished = drive(engine)
            error = engine.failure[2] if engine.failure is not None else None
            if isinstance(error, StorageError):
                engine.progress.stop(None)
                raise error
            if not finished:
                engine.progress.stop(None)
                if engine.terminated:
                    raise _terminated(pipeline.name)
                raise KeyboardInterrupt  # the last checkpoint and the journal hold what is done
            summary = _finish(engine, pipeline.name, names, started, resume)
            engine.progress.stop(summary)
        finally:
            cleanup.close()
    if engine.terminated:
        raise _terminated(pipeline.name)
    if engine.failure is not None:
        step, seq, error = engine.failure
        if not isinstance(error, StillroomOfflineBatchGenerationNotFinishedException):
            raise StepFailedError(step, seq, error) from error
        logger.warning(batch_pending_message(step, error.jobs_ids))
        return RunOutcome(data_dir, summary)
    if engine.too_many_failures is not None:
        raise engine.too_many_failures
    if not summary.completed and summary.interrupted:
        logger.warning("Pipeline %r stopped before the end; run it again to resume.", pipeline.name)
    elif not summary.completed:
        raise _stalled(pipeline.name, engine)
    return RunOutcome(data_dir, summary)


def _stalled(name: str, engine: Engine) -> StillroomError:
    """The error of a run whose loop ended with steps unfinished though none failed and
    none was asked to stop: rows would otherwise be missing without a word."""
    unfinished = ", ".join(repr(n) for n, node in engine.nodes.items() if not node.done)
    return StillroomError(
        f"Pipeline {name!r} ended with step(s) {unfinished} unfinished, though no step failed "
        "and nothing asked the run to stop: this is a bug in stillroom's engine, please "
        "report it. What was done is saved with the last checkpoint; running the pipeline "
        "again resumes from it."
    )


SIGTERM_EXIT_STATUS = 143
"""128 + SIGTERM: what a process killed by SIGTERM reports, and what a stopped run exits with."""


def _terminated(name: str) -> SystemExit:
    """The exit a SIGTERM asked for, once what was done is saved: the process ends (unless
    the caller catches SystemExit) with the status a SIGTERM'd process has."""
    logger.warning(
        "Pipeline %r stopped by SIGTERM; what was done is saved. Run the same command again "
        "to resume.",
        name,
    )
    return SystemExit(SIGTERM_EXIT_STATUS)


@contextlib.contextmanager
def _generator_batch_size(dag: DAG, row_limit: int | None) -> Iterator[None]:
    """For a dry run, generators make batches of `row_limit` rows (restored afterwards)."""
    if row_limit is None:
        yield
        return
    generators = [step for step in dag.steps.values() if step.is_generator]
    saved = [step.batch_size for step in generators]  # type: ignore[attr-defined]
    for step in generators:
        step.batch_size = row_limit  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for step, size in zip(generators, saved, strict=True):
            step.batch_size = size  # type: ignore[attr-defined]


def _open_run(
    store: Store, signature: str, config: RunConfig, data_dir: Path
) -> tuple[dict[str, Any], list[tuple[str, int, bytes]], bool]:
    """The checkpoint to resume (state, batches, True), or a fresh state with the previous
    run's leftovers (checkpoint, counts, datasets) removed."""
    status, state, batches = _saved_run(store, signature, config.use_cache)
    if (
        config.use_cache
        and status == "running"
        and isinstance(state, dict)
        and state.get("version") == STATE_VERSION
    ):
        return state, batches, True
    store.clear_run(signature, run=state.get("run_id") if isinstance(state, dict) else None)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    meta = {"format": resolve_format(config.storage_format)}
    return {"run_id": uuid.uuid4().hex, "meta": meta}, [], False


def _saved_run(
    store: Store, signature: str, use_cache: bool
) -> tuple[str, Any, list[tuple[str, int, bytes]]]:
    """(status, state, batches) of the last checkpoint. One naming what saved state may not
    hold (`safe_pickle`) raises `UnsafeStateError`, unless `use_cache=False` asked to start
    afresh: then it is ignored, with a warning, and the new run's checkpoints replace it."""
    try:
        status, raw_state, batches = store.load_run(signature)
        source = checkpoint_source(store, signature)
        return status, safe_pickle.loads(raw_state, source) if raw_state else None, batches
    except UnsafeStateError as exc:
        if use_cache:
            raise
        logger.warning("%s\nStarting afresh, as use_cache=False asks.", exc)
        return "", None, []


def _finish(
    engine: Engine, name: str, names: dict[str, str], started: float, resumed: bool
) -> RunSummary:
    """Save the final checkpoint (or mark the run complete) and summarise.

    A run stopped by `max_failed_fraction` is saved as "stopped", which the next run does
    not resume: it starts afresh, answered requests come from the cache and the rows that
    failed are sent again."""
    too_many = engine.too_many_failures
    completed = engine.completed and engine.failure is None
    if completed:
        engine.checkpoint(status="completed", force_flush=True)
        engine.store.clear_run(engine.signature, run=engine.run_id)
        engine.store.commit()
    else:
        engine.checkpoint(status="running" if too_many is None else "stopped", force_flush=True)
    summary = RunSummary(
        pipeline=name,
        wall_time=time.monotonic() - started,
        resumed=resumed,
        completed=completed,
        interrupted=engine.stopping and engine.failure is None and too_many is None,
        retries=engine.failures.finish(),
        stop_reason=None if too_many is None else too_many.reason,
    )
    summary.steps = engine.progress.step_summaries(summary.retries)
    summary.placements = getattr(engine, "placements", {})  # a Ray engine's: where steps ran
    for leaf, dataset in names.items():
        writer = engine.nodes[leaf].writer
        summary.rows[dataset] = writer.rows if writer is not None else 0
    for node in engine.nodes.values():
        if node.stats.failed_rows or node.request_stats is not None:
            summary.failed_rows[node.name] = node.stats.failed_rows
        tally = engine.failures.tallies[node.name]
        if tally.total:
            summary.error_messages[node.name] = tally
        stats = node.request_stats
        if stats is None:
            continue
        summary.requests_sent += stats.sent
        summary.cache_hits += stats.cache_hits
        summary.failed_requests += stats.failed
        for error, count in stats.errors.items():
            summary.errors[error] = summary.errors.get(error, 0) + count
        tokens = summary.tokens.setdefault(stats.model, {"input": 0, "output": 0})
        tokens["input"] += stats.input_tokens
        tokens["output"] += stats.output_tokens
    return summary
