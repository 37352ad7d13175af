"""`stillroom pipeline run|info --config p.yaml` (or `--script s.py`): run or describe a
pipeline, saved as a file or defined by a script (see `sources`).

`run` exits 0 when every row succeeded, 3 when the run finished with failed rows, 130 when
stopped with Ctrl-C (see `exit_codes`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from stillroom.cli import exit_codes
from stillroom.cli.options import log_options
from stillroom.cli.sources import pipeline_from_config, pipeline_from_script
from stillroom.errors import StillroomError


def register(commands: Any) -> None:
    parser = commands.add_parser("pipeline", help="Run or inspect a pipeline saved as YAML/JSON.")
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)

    run = actions.add_parser("run", help="Run (or resume) a pipeline.", parents=[log_options()])
    _common(run)
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="STEP.FIELD=VALUE",
        help="Set a runtime parameter, e.g. text_generation.llm.generation_kwargs.temperature=0.7 "
        "(the value is read as YAML: numbers, true/false, lists). Repeat as needed.",
    )
    run.add_argument(
        "--ignore-cache",
        "--no-cache",
        dest="no_cache",
        action="store_true",
        help="Start afresh; send every request.",
    )
    run.add_argument("--repo-id", help="Push the datasets to this Hub dataset repo when done.")
    run.add_argument("--commit-message", help="Commit message of the push (with --repo-id).")
    run.add_argument("--private", action="store_true", help="Create the Hub repo as private.")
    run.add_argument("--token", help="Hub token for the push (default: $HF_TOKEN or login).")
    run.add_argument(
        "--storage-format", choices=["jsonl", "parquet"], default="jsonl", help="Dataset files."
    )
    run.add_argument("--output-dir", type=Path, help="Also copy the datasets here when done.")
    run.add_argument(
        "--dry-run",
        type=int,
        nargs="?",
        const=1,
        default=None,
        metavar="ROWS",
        help="Run on the first ROWS rows of each generator only (default 1), apart from the "
        "full run; the replies it gets are cached for the full run.",
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Progress bars (default: on a terminal only; log lines otherwise).",
    )
    run.add_argument(
        "--max-failed-fraction",
        type=float,
        default=None,
        metavar="F",
        help="Stop (exit status 4) once a step has 50 rows and more than this fraction of them "
        "failed, e.g. 0.5; running again retries the failed rows. Default: never stop.",
    )
    run.add_argument(
        "--strict-cache",
        action="store_true",
        help="Stop before any request if the request cache is found damaged (default: warn "
        "how many requests may be sent again, and go on).",
    )
    run.add_argument(
        "--view",
        action="store_true",
        help="Show the datasets in the browser as they are written (stillroom view); the page "
        "stays up after the run until Ctrl-C.",
    )
    run.set_defaults(handler=_run)

    info = actions.add_parser("info", help="Show steps, connections and runtime parameters.")
    _common(info)
    info.set_defaults(handler=_info)


def _common(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", metavar="PATH_OR_URL", help="Pipeline file (.yaml/.json), a path or a URL."
    )
    source.add_argument(
        "--script",
        metavar="PATH_OR_URL",
        help="A Python script defining the pipeline (run as a module: its __main__ block "
        "does not run).",
    )
    parser.add_argument(
        "--pipeline-variable-name",
        default="pipeline",
        metavar="NAME",
        help="With --script: the variable holding the pipeline (default: pipeline).",
    )
    parser.add_argument(
        "--allow-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="A module the file may import step/LLM classes from (your own code). Repeatable.",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="Cache directory (default: ~/.cache/stillroom)."
    )


def parse_params(items: list[str]) -> dict[str, Any]:
    """`["a.llm.temperature=0.7"]` -> `{"a": {"llm": {"temperature": 0.7}}}`."""
    parameters: dict[str, Any] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        keys = path.split(".")
        if not sep or len(keys) < 2 or not all(keys):
            raise StillroomError(
                f"--param {item!r} should look like STEP.FIELD=VALUE "
                "(e.g. text_generation.input_batch_size=10)."
            )
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        target = parameters
        for key in keys[:-1]:
            node = target.setdefault(key, {})
            if not isinstance(node, dict):
                raise StillroomError(
                    f"--param {item!r} conflicts with another --param for {key!r}."
                )
            target = node
        target[keys[-1]] = value
    return parameters


def _load(args: argparse.Namespace) -> Any:
    if args.script is not None:
        pipeline = pipeline_from_script(args.script, args.pipeline_variable_name)
    else:
        pipeline = pipeline_from_config(args.config, args.allow_module)
    if args.cache_dir is not None:
        pipeline.cache_dir = args.cache_dir
    return pipeline


def _run(args: argparse.Namespace) -> int:
    pipeline = _load(args)
    parameters = parse_params(args.param)
    if args.dry_run is not None:
        distiset = pipeline.dry_run(
            parameters,
            args.dry_run,
            progress=args.progress,
            max_failed_fraction=args.max_failed_fraction,
            strict_cache=args.strict_cache,
        )
    else:
        distiset = pipeline.run(
            parameters=parameters,
            use_cache=not args.no_cache,
            storage_format=args.storage_format,
            progress=args.progress,
            max_failed_fraction=args.max_failed_fraction,
            strict_cache=args.strict_cache,
            view=args.view,
        )
    if args.output_dir is not None:
        distiset.save_to_disk(args.output_dir)
        print(f"datasets saved to {args.output_dir}")
    if args.repo_id is not None:
        extra = {"commit_message": args.commit_message} if args.commit_message else {}
        distiset.push_to_hub(args.repo_id, private=args.private, token=args.token, **extra)
        print(f"datasets pushed to https://huggingface.co/datasets/{args.repo_id}")
    if args.view and args.dry_run is None:
        from stillroom.viewer import serve_until_interrupted, servers

        serve_until_interrupted(servers()[-1])
    summary = distiset.summary
    if summary is None:
        return exit_codes.OK
    if not summary.completed:
        return exit_codes.INTERRUPTED
    return exit_codes.FAILED_ROWS if summary.total_failed_rows else exit_codes.OK


def _info(args: argparse.Namespace) -> int:
    pipeline = _load(args)
    print(
        f"pipeline {pipeline.name!r}"
        + (f": {pipeline.description}" if pipeline.description else "")
    )
    print("steps:")
    for name, step in pipeline.steps.items():
        inputs = ", ".join(step.get_inputs()) or "-"
        outputs = ", ".join(step.get_outputs()) or "-"
        print(f"  {name} ({type(step).__name__}): {inputs} -> {outputs}")
        for line in _parameter_lines(step, step.get_runtime_parameters_info(), "    "):
            print(line)
    print("connections:")
    for source, target in pipeline.dag.edges:
        print(f"  {source} >> {target}")
    return 0


def _parameter_lines(obj: Any, info: list[dict[str, Any]], indent: str) -> list[str]:
    lines = []
    for entry in info:
        name = entry["name"]
        value = getattr(obj, name, None)
        if "runtime_parameters_info" in entry:
            nested = entry["runtime_parameters_info"]
            lines.append(f"{indent}{name}:")
            if isinstance(nested, dict) and isinstance(value, list):  # items, by index
                for index, item_info in nested.items():
                    lines.append(f"{indent}  {index}:")
                    lines.extend(_parameter_lines(value[int(index)], item_info, indent + "    "))
            else:
                lines.extend(_parameter_lines(value, nested, indent + "  "))
            continue
        shown = "***" if "secret" in type(value).__name__.lower() else repr(value)
        required = "" if entry.get("optional", True) else " (required)"
        description = f"  # {entry['description']}" if entry.get("description") else ""
        lines.append(f"{indent}{name} = {shown}{required}{description}")
    return lines
