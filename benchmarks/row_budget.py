"""The per-row budget of the 0 ms hot path: what the engine spends beyond the bare loop, piece
by piece, against the cheapest plain-Python form of the same work.

0.8 of the bare aiohttp loop's rows/s leaves the engine about a quarter of the bare loop's
client CPU per row for everything it does beyond sending the request. This script shows
whether that is reachable and where the gap is:

- **ours**: each piece of per-row work a pipeline with exact resume must do, timed by
  calling the engine's own code on the rows `hot_path_layers.py` sends (the task's request
  for a row, the request cache's key, the LLM's body and its reading of the reply, the
  journal line, the output row, the dataset line, the checkpoint's share of SQLite);
- **minimal**: the same work in its cheapest plain-Python form (orjson, one BLAKE2 digest
  of the body already encoded, one `os.write`, one dict per row, one sorted `executemany`);
- **bare pays**: what the bare loop of `hot_path_layers.py` spends on that piece itself
  (it encodes the body and decodes the reply too), so that `ours - bare pays` is the part
  of the engine's excess that piece accounts for;
- then each layer's whole CPU per row with no sockets (`hot_path_layers.py`'s three
  clients, each in a fresh process), and what the pieces leave unexplained: the engine's
  scheduling, coroutines, slots, timeouts, retries, counters and checks.

Each figure is the median [range] of `--runs` passes over `--rows` rows (CPU time of this
process). Other load on the machine inflates all of them alike.

    PYTHONPATH=../src:. python row_budget.py                 # 10,000 rows, 5 runs
    PYTHONPATH=../src:. python row_budget.py --skip-layers   # the pieces only (seconds)
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from hot_path_layers import URL
from scenarios import prompt

MODEL = "mock-model"
STEP = "text_generation_0"


def reply_body(text: str) -> bytes:
    """The mock server's echo reply to `text` (as `hot_path_layers.py`'s session builds it)."""
    reply = {
        "id": "memory",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "echo: " + text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }
    return json.dumps(reply).encode()


def timed(work: Callable[[], None], rows: int) -> float:
    """CPU microseconds per row of `work` (which handles all rows), with the garbage
    collector off, as the engine runs with its young generation collected rarely."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time_ns()
        work()
        return (time.process_time_ns() - started) / rows / 1000
    finally:
        gc.enable()


class Ours:
    """The engine's own code for each piece, set up as a run sets it up."""

    def __init__(self, rows: list[dict[str, Any]], directory: Path) -> None:
        from stillroom.models import OpenAILLM
        from stillroom.pipeline.requests import Ledger, RequestCache, request_content
        from stillroom.pipeline.store import SQLiteStore
        from stillroom.pipeline.writers import dumps_rows
        from stillroom.steps.tasks import TextGeneration

        self.rows = rows
        self.llm = OpenAILLM(
            model=MODEL, base_url=URL, api_key="none", generation_kwargs={"max_new_tokens": 64}
        )
        self.llm.load()
        self.task = TextGeneration(name=STEP, llm=self.llm)
        self.task.load()
        self.store = SQLiteStore(directory)
        self.cache = RequestCache(self.store, "run", self.task, read=False)
        self.ledger = Ledger()
        self.request_content = request_content
        self.dumps_rows = dumps_rows
        self.replies = [reply_body(row["instruction"]) for row in rows]
        self.requests: list[Any] = []
        self.keys: list[bytes] = []
        self.results: list[Any] = []
        self.outputs: list[list[dict[str, Any]]] = []

    def render(self) -> None:
        self.requests = [self.task.request_for(row) for row in self.rows]

    def key(self) -> None:
        content, key, ledger = self.request_content, self.cache.key, self.ledger
        self.keys = [key(content(request, 1, {}), ledger) for request in self.requests]

    def encode(self) -> None:
        llm = self.llm
        for request in self.requests:
            messages, _collector = llm._conversation_and_collector(request, 1)
            params = llm._settings_payload(dict(llm.generation_kwargs))
            llm._json_body({"model": llm.model, "messages": messages, **params})

    def decode(self) -> None:
        from stillroom.models.llms.openai_replies import total_tokens

        llm, results = self.llm, []
        for request, body in zip(self.requests, self.replies, strict=True):
            _messages, collector = llm._conversation_and_collector(request, 1)
            data = json.loads(body)
            samples = llm._samples(data, True, None, 1)
            total_tokens(data)
            collector.add(samples)
            results.append(collector.output())
        self.results = results

    def journal(self) -> None:
        put = self.store.put_request
        for key, result in zip(self.keys, self.results, strict=True):
            put(key, result)

    def count(self) -> None:
        record = self.cache._count
        for result in self.results:
            record(result)

    def build(self) -> None:
        task = self.task
        self.outputs = [
            task.restore_outputs(task.rows_from_result(row, request, result))
            for row, request, result in zip(self.rows, self.requests, self.results, strict=True)
        ]

    def dataset(self) -> None:
        for rows in self.outputs:
            self.dumps_rows(rows)

    def checkpoint(self) -> None:
        self.cache.consume(self.ledger.hashes)
        self.ledger.hashes = []
        self.store.commit()

    def close(self) -> None:
        self.store.close()


class Minimal:
    """Each piece in its cheapest plain-Python form, with the same inputs and outputs."""

    def __init__(self, rows: list[dict[str, Any]], directory: Path) -> None:
        self.rows = rows
        self.replies = [reply_body(row["instruction"]) for row in rows]
        self.prefix = hashlib.blake2b(b"step, llm class, model, settings\x00", digest_size=16)
        self.counts: dict[bytes, int] = {}
        self.fd = os.open(directory / "journal.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.conn = sqlite3.connect(directory / "minimal.sqlite")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE r (key BLOB PRIMARY KEY, value TEXT) WITHOUT ROWID")
        self.conn.execute("CREATE TABLE s (hash BLOB PRIMARY KEY, n INTEGER) WITHOUT ROWID")
        self.messages: list[Any] = []
        self.bodies: list[bytes] = []
        self.contents: list[bytes] = []
        self.keys: list[bytes] = []
        self.results: list[Any] = []
        self.lines: dict[bytes, bytes] = {}
        self.outputs: list[dict[str, Any]] = []
        self.sent = self.tokens = 0

    def render(self) -> None:
        self.messages = [[{"role": "user", "content": row["instruction"]}] for row in self.rows]

    def encode(self) -> None:
        self.bodies = [
            orjson.dumps({"model": MODEL, "messages": m, "max_tokens": 64}) for m in self.messages
        ]

    def key(self) -> None:  # the body is what determines the reply: hash it, count it
        prefix, counts, keys, contents = self.prefix, self.counts, [], []
        for body in self.bodies:
            hasher = prefix.copy()
            hasher.update(body)
            content = hasher.digest()
            n = counts.get(content, 0)
            counts[content] = n + 1
            contents.append(content)
            keys.append(hashlib.blake2b(content + n.to_bytes(8, "little"), digest_size=16).digest())
        self.keys, self.contents = keys, contents

    def decode(self) -> None:
        results = []
        for body in self.replies:
            data = orjson.loads(body)
            usage = data["usage"]
            results.append(
                {
                    "generations": [data["choices"][0]["message"]["content"]],
                    "statistics": {
                        "input_tokens": [usage["prompt_tokens"]],
                        "output_tokens": [usage["completion_tokens"]],
                    },
                }
            )
        self.results = results

    def journal(self) -> None:
        fd, lines = self.fd, self.lines
        for key, result in zip(self.keys, self.results, strict=True):
            line = orjson.dumps(result)
            os.write(fd, key.hex().encode() + b"\t" + line + b"\n")
            lines[key] = line

    def count(self) -> None:
        for result in self.results:
            self.sent += 1
            self.tokens += result["statistics"]["output_tokens"][0]

    def build(self) -> None:
        self.outputs = [
            {
                **row,
                "generation": result["generations"][0],
                "model_name": MODEL,
                "stillroom_metadata": {
                    f"raw_output_{STEP}": result["generations"][0],
                    f"raw_input_{STEP}": messages,
                    f"statistics_{STEP}": {
                        "input_tokens": result["statistics"]["input_tokens"][0],
                        "output_tokens": result["statistics"]["output_tokens"][0],
                    },
                },
            }
            for row, result, messages in zip(self.rows, self.results, self.messages, strict=True)
        ]

    def dataset(self) -> None:
        for row in self.outputs:
            orjson.dumps(row)

    def checkpoint(self) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO r VALUES (?, ?)", sorted(self.lines.items()))
        self.conn.executemany(
            "INSERT INTO s VALUES (?, 1) ON CONFLICT (hash) DO UPDATE SET n = n + 1",
            ((content,) for content in sorted(self.contents)),
        )
        self.conn.commit()
        self.lines = {}

    def close(self) -> None:
        os.close(self.fd)
        self.conn.close()


PIECES = (
    ("render", "the row's messages (format_input, checks)", False),
    ("encode", "the request body (settings, JSON)", True),
    ("key", "the cache key (canonical JSON, BLAKE2, count)", False),
    ("decode", "the reply (JSON, samples, usage)", True),
    ("journal", "the journal line (JSON, one write)", False),
    ("count", "statistics (sent, tokens)", False),
    ("build", "the output row (model_name, metadata)", False),
    ("dataset", "the dataset line (JSON)", False),
    ("checkpoint", "the checkpoint's SQLite share", False),
)
"""(method, what it is, whether the bare loop does it too)."""


def bare_pays(rows: list[dict[str, Any]]) -> dict[str, float]:
    """What the bare loop spends on the pieces it does itself: `json.dumps` of the body,
    `json.loads` of the reply and reading its text."""
    replies = [reply_body(row["instruction"]) for row in rows]

    def encode() -> None:
        for row in rows:
            json.dumps(
                {"model": MODEL, "messages": [{"role": "user", "content": row["instruction"]}]}
            ).encode()

    def decode() -> None:
        for body in replies:
            json.loads(body)["choices"][0]["message"]["content"]

    return {"encode": timed(encode, len(rows)), "decode": timed(decode, len(rows))}


def measure_pieces(rows: int) -> dict[str, dict[str, float]]:
    """One pass of every piece, ours and minimal, on `rows` rows."""
    data = [{"instruction": prompt(r)} for r in range(rows)]
    figures: dict[str, dict[str, float]] = {"ours": {}, "minimal": {}}
    with tempfile.TemporaryDirectory() as directory:
        for side, cls in (("ours", Ours), ("minimal", Minimal)):
            folder = Path(directory) / side
            folder.mkdir()
            impl = cls(data, folder)
            # `Minimal.key` hashes the body, so it runs after `encode`; the order is the same
            # for both sides and changes no figure.
            for name in ("render", "encode", "key", "decode", "journal", "count", "build"):
                figures[side][name] = timed(getattr(impl, name), rows)
            figures[side]["dataset"] = timed(impl.dataset, rows)
            figures[side]["checkpoint"] = timed(impl.checkpoint, rows)
            impl.close()
    figures["bare"] = bare_pays(data)
    return figures


def measure_layers(rows: int) -> dict[str, float]:
    """`hot_path_layers.py`'s three clients, each in a fresh process: CPU us per row."""
    script = Path(__file__).with_name("hot_path_layers.py")
    layers = {}
    for layer in ("bare", "llm", "pipeline"):
        done = subprocess.run(
            [sys.executable, str(script), "--child", layer, "--rows", str(rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        layers[layer] = json.loads(done.stdout.strip().splitlines()[-1]) * 1e6
    return layers


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} [{min(values):5.1f}-{max(values):5.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per pass")
    parser.add_argument("--runs", type=int, default=5, help="passes, interleaved")
    parser.add_argument("--skip-layers", action="store_true", help="only the pieces")
    parser.add_argument(
        "--bare-cpu",
        type=float,
        default=108.0,
        help="the bare loop's client CPU per row over sockets, us (hot_path.py --scenario zero)",
    )
    args = parser.parse_args()
    logging.getLogger("stillroom").setLevel(logging.ERROR)  # a task built outside a pipeline
    measure_pieces(min(args.rows, 1000))  # warm-up: imports, first calls
    passes = []
    layers: list[dict[str, float]] = []
    for _ in range(args.runs):
        passes.append(measure_pieces(args.rows))
        if not args.skip_layers:
            layers.append(measure_layers(args.rows))

    def column(side: str, name: str) -> list[float]:
        return [p[side].get(name, 0.0) for p in passes]

    print(f"per-row CPU, us: median [range] of {args.runs} passes of {args.rows:,} rows")
    print(f"{'piece':<48} {'ours':>21} {'minimal':>21} {'bare pays':>10}")
    ours_total: list[float] = [0.0] * args.runs
    minimal_total: list[float] = [0.0] * args.runs
    for name, what, in_bare in PIECES:
        ours, minimal = column("ours", name), column("minimal", name)
        bare = column("bare", name) if in_bare else [0.0] * args.runs
        for i in range(args.runs):
            ours_total[i] += ours[i] - bare[i]
            minimal_total[i] += max(minimal[i] - bare[i], 0.0)
        shown = f"{statistics.median(bare):10.1f}" if in_bare else f"{'-':>10}"
        print(f"{what:<48} {_cell(ours)} {_cell(minimal)} {shown}")
    print(f"{'sum beyond the bare loop':<48} {_cell(ours_total)} {_cell(minimal_total)}")
    if not layers:
        return
    bare = [layer["bare"] for layer in layers]
    llm = [layer["llm"] - layer["bare"] for layer in layers]
    engine = [layer["pipeline"] - layer["llm"] for layer in layers]
    beyond = [layer["pipeline"] - layer["bare"] for layer in layers]
    rest = [b - o for b, o in zip(beyond, ours_total, strict=True)]
    print()
    print("whole layers, no sockets (hot_path_layers.py, fresh processes)")
    print(f"{'the bare loop':<48} {_cell(bare)}")
    print(f"{'+ the LLM layer (OpenAILLM.agenerate_result)':<48} {_cell(llm)}")
    print(f"{'+ the engine (Pipeline.run)':<48} {_cell(engine)}")
    print(f"{'pipeline beyond the bare loop':<48} {_cell(beyond)}")
    print(f"{'  of which not in the pieces above':<48} {_cell(rest)}")
    print(
        f"{'budget beyond the bare loop for 0.8x':<48} {0.25 * args.bare_cpu:6.1f}"
        f"  (a quarter of the bare loop's client CPU over sockets, --bare-cpu {args.bare_cpu:g})"
    )


if __name__ == "__main__":
    main()
