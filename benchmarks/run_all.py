"""Run every benchmark in turn, each in its own Python process, and stop at the first failure.

python benchmarks/run_all.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS = [
    ["mock_server_throughput.py", "--requests", "20000"],
    ["semaphore_baseline.py", "--client", "httpx"],
    ["semaphore_baseline.py", "--client", "aiohttp"],
    ["semaphore_baseline.py", "--client", "openai"],
    ["openai_client.py"],
    ["pipeline_openai.py"],
    ["hot_path.py", "--scenario", "all"],
    ["hot_path_layers.py"],
    ["run_timeline.py", "--scenario", "fixed-100ms"],
    ["pipeline_mock_llm.py"],
    ["ray_vs_local.py", "--rows", "2400"],
]
"""Script and arguments of each benchmark, in the order they run."""

TIME_LIMIT = 1800.0
"""Seconds one benchmark script may run before it is stopped."""


def main() -> None:
    for script, *args in BENCHMARKS:
        print(f"\n### {script} {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *args], check=True, timeout=TIME_LIMIT)


if __name__ == "__main__":
    main()
