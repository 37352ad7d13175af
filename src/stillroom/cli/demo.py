"""`stillroom demo`: run the demo pipeline (offline on the embedded model by default)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = Path("stillroom-demo-dataset")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo", help="Run the demo pipeline (questions and answers) on the embedded model."
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"Dataset folder ({DEFAULT_OUTPUT})."
    )
    parser.add_argument("--rows", type=int, default=8, help="Topics to generate for (8).")
    parser.add_argument(
        "--llm",
        help="LLM spec, e.g. openai:gpt-4o-mini or ollama:llama3.2 (default: $STILLROOM_LLM, "
        "else the embedded local model).",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from stillroom.demo import run_demo

    distiset = run_demo(args.output, llm=args.llm, rows=args.rows)
    rows = [row for dataset in distiset.values() for row in dataset["train"]]
    print(f"\nWrote {len(rows)} rows to {args.output.resolve()}")
    for row in rows[:2]:
        print(f"\n[{row['topic']}] {row['instruction']}\n  -> {row['generation']}")
    print(f"\nBrowse every row in your web browser: stillroom view {args.output}")
    return 0
