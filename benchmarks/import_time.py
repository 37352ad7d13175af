"""How long importing stillroom takes, each time in a fresh interpreter.

For each statement below, `--runs` new Python processes (15 by default) each run it once and
report how long it took (time.perf_counter around the statement, so the interpreter's own
start-up is left out); the script prints the median and the range, and the same for the whole
process's wall time. The checkout's `src/` comes first on the path, so it measures this tree.

    python benchmarks/import_time.py
    python benchmarks/import_time.py --runs 30

The figures move with the load on the machine: compare medians taken on the same machine.
`python -X importtime -c "STATEMENT"` shows which module costs what.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

STATEMENTS = {
    "import stillroom": "import stillroom",
    "pipeline + OpenAILLM + TextGeneration": (
        "from stillroom.pipeline import Pipeline; from stillroom.models import OpenAILLM; "
        "from stillroom.steps.tasks import TextGeneration"
    ),
}
"""Label -> statement timed."""

_TIMED = "import time; t = time.perf_counter(); exec({!r}); print(time.perf_counter() - t)"


def run_once(statement: str) -> tuple[float, float]:
    """(seconds the statement took, seconds the whole process took) in a new interpreter."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _TIMED.format(statement)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip()), time.perf_counter() - started


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (range {min(values):.3f}-{max(values):.3f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per statement")
    args = parser.parse_args()
    print(f"{args.runs} fresh interpreters each, Python {sys.version.split()[0]}")
    for label, statement in STATEMENTS.items():
        runs = [run_once(statement) for _ in range(args.runs)]
        print(f"{label}:")
        print(f"  import:  {_summary([imported for imported, _ in runs])}")
        print(f"  process: {_summary([whole for _, whole in runs])}")


if __name__ == "__main__":
    main()
