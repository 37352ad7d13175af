"""`Pipeline`: a graph of steps built in a `with` block, validated, run, saved and loaded.

    with Pipeline(name="answers") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "Hi"}])
        answer = TextGeneration(llm=OpenAILLM(model="gpt-4o-mini"))
        load >> answer
    distiset = pipeline.run(parameters={"text_generation": {"llm": {"generation_kwargs": {...}}}})

Steps created inside the block join the pipeline; `a >> b`, `a >> [b, c]` and `[b, c] >> d`
connect them. `run` checks the whole pipeline before anything runs (see `validation.py`),
then streams rows through it (see `scheduler.py`), caching every LLM reply and checkpointing
so that running it again resumes an interrupted run.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from stillroom import __version__
from stillroom.distiset import Distiset
from stillroom.errors import (
    SerializationError,
    StillroomError,
    StillroomUserError,
    did_you_mean,
)
from stillroom.mixins.requirements import missing_requirements
from stillroom.pipeline.contracts import RunConfig
from stillroom.pipeline.drawing import mermaid_source, write_mermaid
from stillroom.pipeline.graph import DAG
from stillroom.pipeline.load_stages import last_steps, load_stages, resolve_load_groups
from stillroom.pipeline.outputs import run_distiset
from stillroom.pipeline.preview import preview_lines
from stillroom.pipeline.routing_batch_function import RoutingBatchFunction, routing_from_dict
from stillroom.pipeline.runner import LocalExecutor, run_pipeline
from stillroom.pipeline.signature import pipeline_signature, step_signatures
from stillroom.pipeline.validation import apply_parameters, validate
from stillroom.pipeline.writers import StorageFormat
from stillroom.steps.base import _Step
from stillroom.steps.context import reset_current_pipeline, set_current_pipeline
from stillroom.utils.serialization import TYPE_INFO_KEY, read_file, type_info

if TYPE_CHECKING:
    from stillroom.pipeline.ray import RayPipeline
    from stillroom.pipeline.runner import Executor

DATASET_BATCH_SIZE = 50
"""Rows per batch of a `dataset=` fed to `run`/`dry_run` (`dataset_batch_size`)."""

DATASET_STEP = "load_dataset"
"""Name of the generator step `run(dataset=...)` adds."""


class Pipeline:
    """A DAG of steps that runs locally on one asyncio loop, with cache and resume."""

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        cache_dir: str | Path | None = None,
        enable_metadata: bool = True,
        requirements: list[str] | None = None,
    ) -> None:
        """`enable_metadata`: keep the `stillroom_metadata` column in the Distiset (it holds
        each failed row's error, so stillroom keeps it by default; distilabel drops it unless
        asked). `requirements`: pip requirements the run needs besides the steps' own
        (`@requirements`), checked before any step loads."""
        self.name = name or "pipeline"
        self.description = description
        self.cache_dir = cache_dir
        self.enable_metadata = enable_metadata
        self.requirements = list(requirements or [])
        self.dag = DAG()
        self._tokens: list[Any] = []

    def requirements_to_install(self) -> list[str]:
        """The pipeline's and its steps' requirements that the installed packages miss."""
        steps = [r for step in self.dag.steps.values() for r in step.requirements]
        return missing_requirements([*self.requirements, *steps])

    def _check_requirements(self) -> None:
        missing = self.requirements_to_install()
        if missing:
            raise StillroomUserError(
                f"Pipeline {self.name!r} needs packages that are not installed: "
                f"{', '.join(missing)}. Install them (pip install {' '.join(map(repr, missing))}) "
                "and run again."
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, steps={list(self.dag.steps)})"

    # --- building -----------------------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        self._tokens.append(set_current_pipeline(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        reset_current_pipeline(self._tokens.pop())

    def _add_step(self, step: _Step) -> None:
        """Called by a step created inside the `with` block."""
        assert step.name is not None
        existing = self.dag.steps.get(step.name)
        if existing is not None:
            if not step._name_inferred:
                raise StillroomError(
                    f"Pipeline {self.name!r} already has a step named {step.name!r} "
                    f"({type(existing).__name__}); give this {type(step).__name__} another "
                    "name=..."
                )
            base, _, first = step.name.rpartition("_")
            index = int(first) + 1
            while f"{base}_{index}" in self.dag:
                index += 1
            step.name = f"{base}_{index}"
        self.dag.add_step(step)

    def _add_edge(self, source: str, target: str) -> None:
        """Called by `a >> b`: rows of `source` flow to `target`."""
        for name in (source, target):
            if name not in self.dag:
                raise StillroomError(
                    f"Step {name!r} is not part of pipeline {self.name!r}, so it cannot be "
                    "connected. Create it inside the pipeline's `with` block."
                )
        if source == target:
            raise StillroomError(f"Step {source!r} cannot send its rows to itself.")
        self.dag.add_edge(source, target)

    def _add_routing(self, source: str, routing: Any) -> None:
        """Called by `connect(..., routing_batch_function=...)` and when loading a file."""
        if source not in self.dag:
            raise StillroomError(
                f"Pipeline {self.name!r} has no step {source!r} to route the batches of."
            )
        if not callable(routing):
            raise StillroomError(
                f"Step {source!r}: routing_batch_function should be a function of the "
                f"downstream step names (or a RoutingBatchFunction), got {routing!r}."
            )
        self.dag.routing[source] = routing

    @property
    def steps(self) -> Mapping[str, _Step]:
        """Steps by name, in the order they were created (read-only)."""
        return MappingProxyType(self.dag.steps)

    def get_step(self, name: str) -> _Step:
        try:
            return self.dag.steps[name]
        except KeyError:
            raise StillroomError(
                f"Pipeline {self.name!r} has no step {name!r}.{did_you_mean(name, self.dag.steps)}"
            ) from None

    @property
    def signature(self) -> str:
        """Hash of every step's configuration and the connections: names the run directory."""
        return pipeline_signature(self.dag)

    def get_load_stages(self, load_groups: Any = None) -> tuple[list[list[str]], list[list[str]]]:
        """The stages `run(load_groups=...)` loads the steps in, and each stage's last steps
        (those sending no rows within the stage), as distilabel's method returns them.
        Without load groups every step loads at the start: one stage."""
        groups = resolve_load_groups(self.dag, load_groups, self.name)
        stages = load_stages(self.dag, groups)
        return stages, [last_steps(self.dag, stage) for stage in stages]

    def step_signatures(self) -> dict[str, str]:
        """Step name -> hash of its configuration and of its predecessors' signatures."""
        return step_signatures(self.dag)

    # --- running ------------------------------------------------------------------------------

    def validate(self, parameters: dict[str, Any] | None = None) -> None:
        """Check the pipeline as `run` would, without running anything.

        Raises `PipelineValidationError` listing every problem. `parameters` are applied to
        the steps, as `run` does.
        """
        validate(self.dag, self.name, apply_parameters(self.dag, parameters))

    def run(
        self,
        parameters: dict[str, Any] | None = None,
        load_groups: Any = None,
        use_cache: bool = True,
        storage_parameters: dict[str, Any] | None = None,
        use_fs_to_pass_data: bool = False,
        dataset: Iterable[dict[str, Any]] | None = None,
        dataset_batch_size: int = DATASET_BATCH_SIZE,
        logging_handlers: list[logging.Handler] | None = None,
        *,
        storage_format: StorageFormat = "jsonl",
        checkpoint_interval: float = 1.0,
        progress: bool | None = None,
        log_interval: float = 10.0,
        max_failed_fraction: float | None = None,
        strict_cache: bool = False,
        view: bool = False,
    ) -> Distiset:
        """Run the pipeline and return one dataset per leaf step.

        Args:
            parameters: runtime parameters per step name, e.g.
                `{"text_generation": {"llm": {"generation_kwargs": {"temperature": 0.7}}}}`.
            dataset: rows to feed a pipeline that has no generator step (a list of dicts or a
                Hugging Face `Dataset`); they enter through a `LoadDataFromDicts` step named
                "load_dataset" connected to every step without predecessors.
            load_groups: lists of steps (or step names) loaded together, as in distilabel:
                the run goes stage by stage, each stage's steps loaded once the earlier
                stages have finished and been unloaded (one group per stage, a stage per
                global step, the other steps in stages between them; see
                `get_load_stages`). "sequential_step_execution": one step at a time.
                None (default): every step is loaded when the run starts.
            use_cache: resume an unfinished run of this same pipeline, and reuse cached LLM
                replies. False starts afresh and sends every request (replies are still cached).
            storage_parameters, use_fs_to_pass_data: accepted for distilabel's signature and
                moot here: rows pass between steps in this process's memory and the datasets
                are written under the cache directory (see docs/porting.md).
            logging_handlers: extra `logging.Handler`s attached to the "stillroom" logger
                while the run lasts.
            storage_format: "jsonl" (default), or "parquet" (needs pyarrow).
            checkpoint_interval: seconds between checkpoints (commits of the cache database).
            progress: True for progress bars, False for none, None to choose: bars on a
                terminal, a log line every `log_interval` seconds otherwise.
            max_failed_fraction: stop the run once a step has produced at least 50 rows and
                more than this fraction of them failed (0.5: half), and raise
                `TooManyFailuresError`, so that a dead server does not burn a long run. None
                (default): never stop; failed rows are kept with `None` outputs and the
                error in `stillroom_metadata`, and counted in `distiset.summary`.
            strict_cache: raise `DamagedCacheError` before any request when the request
                cache is found damaged (a failed integrity check, a lost `-wal` file, unreadable
                journal lines) instead of warning how many requests may be sent again.
            view: open the run's datasets in the browser (a page served on 127.0.0.1 by
                this process), refreshed as rows are written; `stillroom view` shows them later.

        A row that failed is never cached as an answer: running the pipeline again after it
        finished (or was stopped by `max_failed_fraction`) sends the failed rows' requests
        again and takes the others from the cache.

        Ctrl-C stops starting new work, lets requests in flight finish, saves, and returns
        what is done (`distiset.summary.completed` is False); run again to resume. A second
        Ctrl-C stops at once (KeyboardInterrupt); running again resumes from the last
        checkpoint without resending any finished request.
        """
        config = RunConfig(
            parameters=parameters,
            use_cache=use_cache,
            storage_format=storage_format,
            checkpoint_interval=checkpoint_interval,
            progress=progress,
            log_interval=log_interval,
            max_failed_fraction=max_failed_fraction,
            strict_cache=strict_cache,
            view=view,
            load_groups=resolve_load_groups(self.dag, load_groups, self.name),
        )
        del storage_parameters, use_fs_to_pass_data  # moot in one process (see the docstring)
        root = logging.getLogger("stillroom")
        handlers = list(logging_handlers or [])
        for handler in handlers:
            root.addHandler(handler)
        try:
            return self._run(config, dataset, dataset_batch_size)
        finally:
            for handler in handlers:
                root.removeHandler(handler)

    def _run(
        self,
        config: RunConfig,
        dataset: Iterable[dict[str, Any]] | None,
        dataset_batch_size: int = DATASET_BATCH_SIZE,
    ) -> Distiset:
        """Run as `config` asks, on this pipeline's executor (fed `dataset` first, if
        given); the datasets as a Distiset."""
        _check_fraction(self.name, config.max_failed_fraction)
        self._check_requirements()
        if dataset is not None:
            self._feed(dataset, dataset_batch_size)
        with self._executor() as executor:
            outcome = run_pipeline(self, config, executor)
        return run_distiset(self, outcome)

    def dry_run(
        self,
        parameters: dict[str, Any] | None = None,
        batch_size: int = 1,
        *,
        progress: bool | None = None,
        dataset: Iterable[dict[str, Any]] | None = None,
        max_failed_fraction: float | None = None,
        strict_cache: bool = False,
    ) -> Distiset:
        """Run the pipeline on the first `batch_size` rows of each generator step only.

        A cheap check of prompts, columns, parameters and credentials before the full run.
        Each generator step is asked for batches of `batch_size` rows and stopped after them
        (a generator that yields more is cut to `batch_size`). The dry run's checkpoint and
        datasets are kept apart from the full run's, so the full run never resumes from it;
        the LLM replies it received are cached, so the full run does not pay for them again.
        The first rows of each leaf dataset are printed, values cut short (unless
        `progress=False`).
        `max_failed_fraction` (it applies once a step has 50 rows) and `strict_cache` are
        `run`'s.
        """
        if batch_size < 1:
            raise StillroomError(
                f"Pipeline {self.name!r}: dry_run(batch_size={batch_size}) needs a batch_size of "
                "at least 1, the number of rows each generator step yields."
            )
        config = RunConfig(
            parameters=parameters,
            progress=progress,
            row_limit=batch_size,
            max_failed_fraction=max_failed_fraction,
            strict_cache=strict_cache,
        )
        distiset = self._run(config, dataset)
        if progress is not False:
            print("\n".join(preview_lines(distiset)), flush=True)
        return distiset

    @contextlib.contextmanager
    def _executor(self) -> Iterator[Executor]:
        """Where `run` executes steps: this process (`RayPipeline` connects to Ray for the
        run and yields its own executor)."""
        yield LocalExecutor()

    def ray(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        init_kwargs: dict[str, Any] | None = None,
        storage: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> RayPipeline:
        """This pipeline (same steps and connections) as a `RayPipeline`, run on Ray.

        `address`: None to start a local Ray instance for the run (or reuse this process's
        connection, or `$RAY_ADDRESS`), "auto" for the cluster started with `ray start` on
        this machine, "host:port" or "ray://host:10001" for a remote one. `storage`: where
        the run's cache and checkpoints live, a directory or URL every node can reach
        (`RayPipeline`), with fsspec's `storage_options`. Needs the `[ray]` extra when it
        runs.
        """
        # Lazy on purpose: `RayPipeline` subclasses `Pipeline`, and is the [ray] extra's door.
        from stillroom.pipeline.ray import RayPipeline

        ray_pipeline = RayPipeline(
            name=self.name,
            description=self.description,
            cache_dir=self.cache_dir,
            address=address,
            num_cpus=num_cpus,
            init_kwargs=init_kwargs,
            storage=storage,
            storage_options=storage_options,
        )
        ray_pipeline.dag = self.dag
        return ray_pipeline

    def _feed(self, dataset: Iterable[dict[str, Any]], batch_size: int) -> None:
        from stillroom.steps.generators.data import LoadDataFromDicts

        to_list = getattr(dataset, "to_list", None)
        rows = to_list() if callable(to_list) else list(dataset)
        loader = self.dag.steps.get(DATASET_STEP)
        if isinstance(loader, LoadDataFromDicts):  # fed by an earlier run() call
            loader.data, loader.batch_size = rows, batch_size
            return
        generators = [name for name, step in self.dag.steps.items() if step.is_generator]
        if generators:
            raise StillroomError(
                f"Pipeline {self.name!r} already starts with generator step(s) {generators}; "
                "pass `dataset` only to a pipeline whose first steps receive rows."
            )
        roots = [name for name in self.dag.steps if not self.dag.predecessors(name)]
        with self:
            LoadDataFromDicts(name=DATASET_STEP, data=rows, batch_size=batch_size)
        for root in roots:
            self._add_edge(DATASET_STEP, root)

    def draw(
        self,
        path: str | Path = "pipeline.mmd",
        top_to_bottom: bool = False,
        show_edge_labels: bool = True,
    ) -> Path:
        """Write the graph as a Mermaid flowchart to `path` (.mmd, or .md with a mermaid
        block) and return the path; see `drawing` for why it is text, not a PNG."""
        source = mermaid_source(self.dag, top_to_bottom, show_edge_labels)
        return write_mermaid(path, source, self.name)

    # --- serialisation ------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The pipeline as plain data: steps (with their configuration) and connections."""
        connections = [{"from": name, "to": self.dag.successors(name)} for name in self.dag.steps]
        return {
            "stillroom": {"version": __version__},
            "pipeline": {
                "name": self.name,
                "description": self.description,
                "steps": [
                    {"step": step.dump(), "name": name} for name, step in self.dag.steps.items()
                ],
                "connections": connections,
                "routing_batch_functions": [
                    routing.dump(name)
                    if isinstance(routing, RoutingBatchFunction)
                    else {"step": name}  # a plain function: loading says it cannot rebuild it
                    for name, routing in self.dag.routing.items()
                ],
                TYPE_INFO_KEY: type_info(type(self)),
            },
        }

    def save(self, path: str | Path, format: Literal["yaml", "json"] | None = None) -> Path:
        """Write `dump()` as YAML (default, and for .yaml/.yml) or JSON (for .json)."""
        path = Path(path)
        fmt = format or ("json" if path.suffix == ".json" else "yaml")
        data = self.dump()
        if fmt == "json":
            text = json.dumps(data, indent=2)
        else:
            import yaml  # here: only saving YAML needs it (import time, see benchmarks)

            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)
        path.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], allowed_modules: Iterable[str] = ()) -> Pipeline:
        """Rebuild a pipeline from `dump()` output.

        Step classes are imported only from `stillroom` and from `allowed_modules` (your own
        modules defining custom steps): a file alone never makes stillroom import code.
        """
        body = data.get("pipeline") if isinstance(data, dict) else None
        if not isinstance(body, dict) or not isinstance(body.get("steps"), list):
            raise SerializationError(
                "Not a pipeline dump: expected a 'pipeline' mapping with a 'steps' list."
            )
        allowed = list(allowed_modules)
        pipeline = cls(name=body.get("name"), description=body.get("description"))
        with pipeline:
            for entry in body["steps"]:
                if not isinstance(entry, dict) or not isinstance(entry.get("step"), dict):
                    raise SerializationError(f"Malformed step entry in the pipeline: {entry!r}")
                _Step.from_dict(entry["step"], allowed)
        for connection in body.get("connections") or []:
            for target in connection.get("to") or []:
                pipeline._add_edge(connection["from"], target)
        for entry in body.get("routing_batch_functions") or []:
            pipeline._add_routing(str(entry.get("step")), routing_from_dict(entry))
        return pipeline

    @classmethod
    def from_yaml(cls, path: str | Path, allowed_modules: Iterable[str] = ()) -> Pipeline:
        return cls.from_dict(read_file(path, "yaml"), allowed_modules)

    @classmethod
    def from_json(cls, path: str | Path, allowed_modules: Iterable[str] = ()) -> Pipeline:
        return cls.from_dict(read_file(path, "json"), allowed_modules)

    @classmethod
    def from_file(cls, path: str | Path, allowed_modules: Iterable[str] = ()) -> Pipeline:
        fmt: Literal["yaml", "json"] = "json" if Path(path).suffix == ".json" else "yaml"
        return cls.from_dict(read_file(path, fmt), allowed_modules)


def _check_fraction(pipeline_name: str, fraction: float | None) -> None:
    if fraction is not None and not 0 <= fraction <= 1:
        raise StillroomError(
            f"Pipeline {pipeline_name!r}: max_failed_fraction={fraction!r} should be a fraction "
            "between 0 and 1 (0.1 stops the run once more than 10% of a step's rows failed)."
        )
