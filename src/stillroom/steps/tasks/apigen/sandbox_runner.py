"""Run ONE generated function call in a child interpreter; never imported by the pipeline.

`APIGenExecutionChecker` starts `python -I` on this file (stdlib only: it must not import
stillroom) with a JSON request on stdin: `libpath`, `name`, `arguments`, `check_is_dangerous`,
`memory_mb`, `cpu_s`. Before loading the user's library it caps memory, CPU time and
process creation, and installs an audit hook refusing sockets, subprocesses and `os.system`
so a generated call cannot reach the network or start programs. It prints one JSON line:
`{"ok": true, "result": "..."}` or `{"ok": false, "error": "..."}`.

This is a guard against accidents and careless code, not a security boundary against a
hostile library: run untrusted libraries in a container.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

_REFUSED_EVENTS = (
    "socket.",
    "subprocess.",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "pty.spawn",
)
_DANGEROUS_SOURCE = (
    "subprocess.",
    "os.system(",
    "input(",
    "threading.Thread(",
    "exec(",
    "argparse.ArgumentParser(",
    ".setLevel(",
    "unittest.main(",
    "exit(",
    "raise SystemExit(",
    "multiprocessing.Pool(",
)


def _limit(memory_mb: int, cpu_s: int) -> None:
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _refuse(event: str, args: tuple[Any, ...]) -> None:
    if event.startswith(_REFUSED_EVENTS):
        raise PermissionError(f"blocked in the APIGen execution sandbox: {event}")


class NotFound(LookupError):
    """The function is not in the library (reported without the exception's name)."""


def _function(libpath: str, name: str) -> Any:
    path = Path(libpath)
    module_path = path if path.suffix == ".py" else path / f"{name}.py"
    if not module_path.is_file():
        raise NotFound(f"Function '{name}' not found.")
    spec = importlib.util.spec_from_file_location("apigen_library", module_path)
    if spec is None or spec.loader is None:
        raise LookupError(f"cannot load {module_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function = getattr(module, name, None)
    if not callable(function):
        raise NotFound(f"Function '{name}' not found.")
    return function


def _argument(value: Any) -> Any:
    """A string holding a Python literal (a list, a number) as that value; else unchanged."""
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value
    return value


def call_with(function: Any, arguments: dict[str, Any] | None) -> Any:
    """`function` called with a generated call's `arguments`: strings holding literals are
    read as those values, and arguments whose names are not all the function's parameters
    are passed by position, in their order (a model often renames them)."""
    values = {key: _argument(value) for key, value in (arguments or {}).items()}
    if set(values) <= set(inspect.signature(function).parameters):
        return function(**values)
    return function(*values.values())


def main() -> None:
    request = json.loads(sys.stdin.read())
    _limit(request["memory_mb"], request["cpu_s"])
    sys.addaudithook(_refuse)
    try:
        function = _function(request["libpath"], request["name"])
        if request["check_is_dangerous"]:
            source = inspect.getsource(function)
            if any(marker in source for marker in _DANGEROUS_SOURCE):
                raise PermissionError(
                    f"Function '{request['name']}' looks dangerous (it starts processes, "
                    "reads input or exits); not run."
                )
        reply = {"ok": True, "result": str(call_with(function, request["arguments"]))}
    except NotFound as exc:
        reply = {"ok": False, "error": str(exc)}
    except BaseException as exc:  # the call's failure is the answer, whatever it is
        reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
