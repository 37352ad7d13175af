"""The local engine against Ray on one pipeline with a CPU-heavy step.

Run: `PYTHONPATH=src python benchmarks/ray_vs_local.py [--rows 400] [--rounds 20000]`

The pipeline: `LoadDataFromDicts` (rows in batches of 20) >> `Digest`, a pure-Python step
that hashes each row `rounds` times (about 0.7 µs a round here, holding the GIL) >> `Tally`,
a global step. Each scenario runs with an empty cache:

- local: the local engine, the step in a worker thread (one core at most);
- local, process pool: the same step declared `cpu_bound`, in the engine's process pool;
- ray, 1 replica / ray, 2 replicas: `pipeline.ray()` on a local Ray instance with one CPU
  per replica (`resources={"replicas": n, "cpus": 1}`).

Ray is started once before the Ray scenarios (its start-up is printed on its own); each Ray
run still pays for starting its actors, which the "ray fixed cost" line measures with a run
of 20 rows and 1 round. Prints wall time, rows/s and the speed-up over the local engine,
rows/s once that fixed cost is taken out (what a long run approaches), the load average, and
the ceiling: how much faster all cores hash than one, measured at the end of the same run
(other work on a shared machine lowers it, and every speed-up with it). Checks that every
scenario wrote the same rows.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from stillroom.pipeline import Pipeline
from stillroom.steps import GlobalStep, LoadDataFromDicts, Step, StepInput
from stillroom.steps.typing import StepOutput


class Digest(Step):
    """Hashes each row's text `rounds` times: CPU-bound Python."""

    rounds: int = 20000

    @property
    def inputs(self) -> list[str]:
        return ["text"]

    @property
    def outputs(self) -> list[str]:
        return ["digest"]

    def process(self, inputs: StepInput) -> StepOutput:
        for row in inputs:
            value = row["text"].encode()
            for _ in range(self.rounds):
                value = hashlib.sha256(value).digest()
            row["digest"] = value.hex()[:16]
        yield inputs


class DigestInProcesses(Digest):
    """`Digest`, run by the local engine in its process pool."""

    cpu_bound: ClassVar[bool] = True


class Tally(GlobalStep):
    """Sees every row at once and writes how many there are."""

    @property
    def inputs(self) -> list[str]:
        return ["digest"]

    @property
    def outputs(self) -> list[str]:
        return ["rows"]

    def process(self, inputs: StepInput) -> StepOutput:
        yield [{**row, "rows": len(inputs)} for row in inputs]


def build(cache: Path, rows: int, rounds: int, step: type[Digest] = Digest) -> Pipeline:
    with Pipeline(name="ray-vs-local", cache_dir=cache) as pipeline:
        load = LoadDataFromDicts(data=[{"text": f"row {i}"} for i in range(rows)], batch_size=20)
        digest = step(name="digest", rounds=rounds, input_batch_size=20)
        load >> digest >> Tally()
    return pipeline


def _hash_rounds(rounds: int) -> bytes:
    value = b"x"
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return value


def parallel_ceiling(rounds: int, workers: int) -> float:
    """How much faster `workers` processes do `rounds` hash rounds than one, right now: the
    best speed-up any number of replicas could reach on this machine at this load."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_hash_rounds, [1] * workers))  # start the workers first
        started = time.perf_counter()
        _hash_rounds(rounds)
        serial = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(_hash_rounds, [rounds // workers] * workers))
        parallel = time.perf_counter() - started
    return serial / parallel


def timed(run: Any) -> tuple[float, list[dict[str, Any]]]:
    started = time.perf_counter()
    distiset = run()
    elapsed = time.perf_counter() - started
    rows = distiset["default"]["train"].to_list()
    return elapsed, sorted(rows, key=lambda row: row["text"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=20000)
    args = parser.parse_args()
    logging.getLogger("stillroom").setLevel(logging.WARNING)
    import ray

    cores = os.cpu_count()
    print(f"{args.rows} rows x {args.rounds} sha256 rounds; {cores} cores")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    results: list[tuple[str, float]] = []
    reference: list[dict[str, Any]] | None = None

    def record(label: str, seconds: float, rows: list[dict[str, Any]]) -> None:
        nonlocal reference
        if reference is None:
            reference = rows
        elif rows != reference:
            raise SystemExit(f"{label}: rows differ from the local engine's")
        results.append((label, seconds))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seconds, rows = timed(
            lambda: build(root / "local", args.rows, args.rounds).run(progress=False)
        )
        record("local", seconds, rows)
        seconds, rows = timed(
            lambda: build(root / "pool", args.rows, args.rounds, DigestInProcesses).run(
                progress=False
            )
        )
        record("local, process pool", seconds, rows)

        started = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - started
        try:
            fixed, _ = timed(lambda: build(root / "fixed", 20, 1).ray().run(progress=False))
            for replicas in (1, 2):
                parameters = {"digest": {"resources": {"replicas": replicas, "cpus": 1}}}
                seconds, rows = timed(
                    lambda parameters=parameters, replicas=replicas: (
                        build(root / f"ray{replicas}", args.rows, args.rounds)
                        .ray()
                        .run(parameters, progress=False)
                    )
                )
                record(f"ray, {replicas} replica{'s' if replicas > 1 else ''}", seconds, rows)
        finally:
            ray.shutdown()

    ceiling = parallel_ceiling(args.rows * args.rounds // 4, cores or 1)
    local = results[0][1]
    print(f"{cores} processes hashing in parallel, now: {ceiling:.2f}x one process (the ceiling)")
    print(f"ray start-up (ray.init, once): {ray_start:.2f} s")
    print(f"ray fixed cost per run (actors start, 20 rows): {fixed:.2f} s")
    print(
        f"{'scenario':<22}{'wall s':>9}{'rows/s':>9}{'speed-up':>10}{'rows/s after start-up':>24}"
    )
    for label, seconds in results:
        steady = seconds - fixed if label.startswith("ray") else seconds
        print(
            f"{label:<22}{seconds:>9.2f}{args.rows / seconds:>9.1f}{local / seconds:>9.2f}x"
            f"{args.rows / steady:>24.1f}"
        )
    print("every scenario wrote the same rows")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
