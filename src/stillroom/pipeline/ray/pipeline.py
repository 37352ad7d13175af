"""`RayPipeline`: the same pipeline, run with its steps as Ray actors.

    with Pipeline(name="answers") as pipeline:
        ...
    distiset = pipeline.ray(address="auto").run(parameters=...)

or `with RayPipeline(name="answers", address="auto") as pipeline:` directly. Steps do not
change: their `resources` (replicas, cpus, gpus, memory, custom resources; runtime
parameters, so settable in `run(parameters=...)`) say how many actors each gets and what
each reserves. `run` is `Pipeline.run`: validation, cache, resume, Ctrl-C, the summary and
the `Distiset` behave the same (see `engine.py` in this package for what differs inside).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillroom.pipeline.base import Pipeline

if TYPE_CHECKING:
    from stillroom.pipeline.runner import Executor


class RayPipeline(Pipeline):
    """A `Pipeline` whose `run` executes every step in Ray actors.

    Args:
        address: the Ray cluster: None to reuse this process's Ray connection, or the one in
            `$RAY_ADDRESS`, or else start a local Ray instance for the run (shut down after);
            "auto" for the cluster started with `ray start` on this machine; "host:port" or
            "ray://host:10001" for a remote one.
        num_cpus: CPUs of the local instance started when there is no cluster to join.
        init_kwargs: more arguments for `ray.init` (`runtime_env`, `namespace`, ...).
        storage: where the run's request cache, journal and checkpoints live: a directory
            every node can reach (NFS) or an fsspec URL (`s3://bucket/prefix`, needs
            `s3fs`). Each pipeline gets a folder there named after it. None keeps them in
            `<cache_dir>/pipelines/<name>/ray` on the driver's machine. A run resumes from
            any machine that reads the same `storage` (and has the same `cache_dir` for the
            datasets).
        storage_options: fsspec's options for `storage` (e.g. `{"client_kwargs":
            {"endpoint_url": ...}}` for an S3-compatible server); they travel to the
            replicas, so credentials may go here or, better, in the nodes' environment.
    """

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        cache_dir: str | Path | None = None,
        *,
        address: str | None = None,
        num_cpus: int | None = None,
        init_kwargs: dict[str, Any] | None = None,
        storage: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, description=description, cache_dir=cache_dir)
        self.storage = storage
        self.storage_options = storage_options
        self.address = address
        self.num_cpus = num_cpus
        self.init_kwargs = dict(init_kwargs or {})

    @contextlib.contextmanager
    def _executor(self) -> Iterator[Executor]:
        """Connected to Ray (or a local instance started for the run): its executor."""
        from stillroom.pipeline.ray.cluster import RayConnection, import_ray

        self._refuse_offline_batches()
        import_ray()
        from stillroom.pipeline.errors import StepFailedError
        from stillroom.pipeline.ray.engine import RayExecutor
        from stillroom.pipeline.ray.replicas import ClusterLostError

        with RayConnection(self.address, self.num_cpus, self.init_kwargs):
            try:
                yield RayExecutor(self.name, self.storage, self.storage_options)
            except StepFailedError as exc:
                # the cluster, not the step: say what was lost, what is saved, how to resume
                if isinstance(exc.error, ClusterLostError):
                    raise exc.error from None
                raise

    def _refuse_offline_batches(self) -> None:
        """A task's batch job ids are learnt inside its Ray actor, where a resumed run would
        not find them (it would create a second batch): refused before anything runs, as
        distilabel's Ray pipeline does."""
        from stillroom.errors import StillroomUserError
        from stillroom.models.llms.wrapper import unwrap

        for name, step in self.dag.steps.items():
            llm = getattr(step, "llm", None)
            if llm is not None and unwrap(llm).use_offline_batch_generation:
                raise StillroomUserError(
                    f"Step {name!r}: a RayPipeline cannot use offline batch generation; run "
                    "this pipeline with Pipeline.run (not .ray()), or set "
                    "use_offline_batch_generation=False on its LLM."
                )
