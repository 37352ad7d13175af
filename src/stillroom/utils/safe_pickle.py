"""Pickle for the state a run saves (checkpoints, pending batches, Ray parts and ledgers),
read back without running code.

Loading a pickle runs whatever callable its GLOBAL/REDUCE opcodes name, so anyone who can
write to a run's cache directory, NFS share or bucket could make the next resume run code.
`loads` gives the unpickler only the classes a run's state is made of: the builtin and
standard-library data types rows hold (sets, bytes, datetimes, Decimal, UUID, paths,
collections' containers), numpy arrays and scalars, and the engine's batch classes. Any
other global (os.system, builtins.eval or getattr, subprocess, functools.partial, a user's
class) is refused before its module is even imported, with an `UnsafeStateError` naming the
file, the global and how to allow a trusted class (`STILLROOM_PICKLE_ALLOW`); the globals of
modules that run code or reach the system (`_NEVER`) stay refused whatever the user allows.

`dumps` refuses the same globals when writing, so what the engine saves always loads: a
batch holding another class is not checkpointed (the run says which class and goes on).

Why not a data-only format (tagged JSON, Arrow)? Rows hold any Python value a step puts
there (tuples, sets, bytes, datetimes, numpy arrays, a user's values), in any mix from row
to row: JSON would need a Python walk of every value to tag tuples and bytes, and Arrow a
schema the rows often do not share. A restricted unpickler keeps pickle protocol 5's speed
and what it stores (reading costs one call per distinct class in a file, writing one per
value that is not a plain builtin) and closes the only way a pickle runs code: the globals
it names.
"""

from __future__ import annotations

import io
import os
import pickle
import types
from typing import Any
from zoneinfo import ZoneInfo

from stillroom.errors import UnsafeStateError

ALLOW_ENV = "STILLROOM_PICKLE_ALLOW"
"""Extra globals (comma- or space-separated dotted names, e.g. `PIL.Image.Image`) that saved
state may hold, for a run whose rows hold values of other classes."""

SAFE_GLOBALS = frozenset(
    {
        *(f"builtins.{n}" for n in ("set", "frozenset", "bytearray", "complex", "slice", "range")),
        # plain types, named by a defaultdict's factory or a subclass's base
        *(
            f"builtins.{n}"
            for n in ("bool", "int", "float", "str", "bytes", "list", "tuple", "dict")
        ),
        *(f"datetime.{n}" for n in ("datetime", "date", "time", "timedelta", "timezone")),
        "zoneinfo.ZoneInfo",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "uuid.SafeUUID",
        *(f"collections.{n}" for n in ("OrderedDict", "defaultdict", "deque", "Counter")),
        *(
            f"pathlib.{n}"
            for n in ("PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath")
        ),
        "pathlib.WindowsPath",
        # numpy rebuilds arrays and scalars from bytes with these (1.x: numpy.core, 2.x: _core)
        "numpy.ndarray",
        "numpy.dtype",
        *(
            f"numpy.{core}.{function}"
            for core in ("core", "_core")
            for function in ("multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")
        ),
        # the engine's own plain classes
        "stillroom.pipeline.batch.Batch",
        "stillroom.pipeline.batch.RoutedAway",
        "stillroom.pipeline.writers.Encoded",
        "stillroom.pipeline.ray.between.RemoteRows",
    }
)
"""The globals saved state may name: data types whose construction runs no user code."""


def _named_by_pickle(obj: Any) -> bool:
    """Whether pickle writes `obj` as a global (a class, a function, a module's builtin),
    rather than as a value to rebuild (a bound method is rebuilt by getattr)."""
    if isinstance(obj, types.BuiltinFunctionType):
        return obj.__self__ is None or isinstance(obj.__self__, types.ModuleType)
    return isinstance(obj, (type, types.FunctionType))


_NEVER = frozenset(
    {
        *("builtins", "os", "posix", "nt", "sys", "subprocess", "shutil", "signal", "socket"),
        *("importlib", "runpy", "code", "codeop", "types", "inspect", "marshal", "ctypes"),
        *("functools", "operator", "pickle", "_pickle", "copyreg", "codecs", "io", "_io"),
        *("pty", "webbrowser", "multiprocessing", "threading", "asyncio", "tempfile"),
    }
)
"""Modules whose globals run code or reach the system: never loaded, whatever the user
allows (the safe builtins above excepted)."""


def _never(name: str) -> bool:
    return name not in SAFE_GLOBALS and name.split(".", 1)[0] in _NEVER


def allowed_globals() -> frozenset[str]:
    """`SAFE_GLOBALS` and those `STILLROOM_PICKLE_ALLOW` adds (but none of `_NEVER`'s)."""
    extra = os.environ.get(ALLOW_ENV, "").replace(",", " ").split()
    return SAFE_GLOBALS.union(n for n in extra if not _never(n)) if extra else SAFE_GLOBALS


def _how_to_allow(name: str) -> str:
    return (
        f"If {name} is a plain data class you trust, allow it with "
        f'{ALLOW_ENV}="{name}" (dotted names, comma-separated) in the environment of the '
        "run (and of a Ray cluster's workers)"
    )


class _SafePickler(pickle.Pickler):
    """Refuses to write a global that `_SafeUnpickler` would refuse to read."""

    def __init__(self, file: io.BytesIO, allowed: frozenset[str]) -> None:
        super().__init__(file, protocol=5)
        self.allowed = allowed
        self.value: type | None = None

    def reducer_override(self, obj: Any) -> Any:
        """Called for each object that is not a plain builtin value (not for str, dict,
        list, ...), and for each class or function pickle is about to name."""
        if isinstance(obj, ZoneInfo) and obj.key is not None:
            return ZoneInfo, (obj.key,)  # by key, not through builtins.getattr
        if not _named_by_pickle(obj):
            self.value = type(obj)
            return NotImplemented
        name = f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', obj)}"
        if name not in self.allowed:
            value = self.value and f"{self.value.__module__}.{self.value.__qualname__}"
            found = f" (in a {value})" if value and value != name else ""
            advice = (
                _how_to_allow(name)
                if isinstance(obj, type)
                else "A function is never loaded from saved state: keep plain data in rows"
            )
            raise pickle.PicklingError(
                f"a value needs {name}{found} to be rebuilt, which saved state may not hold. "
                f"{advice}"
            )
        return NotImplemented


def dumps(obj: Any) -> bytes:
    """`obj` pickled (protocol 5); `pickle.PicklingError` naming the global when it holds a
    value that `loads` would refuse."""
    buffer = io.BytesIO()
    _SafePickler(buffer, allowed_globals()).dump(obj)
    return buffer.getvalue()


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, source: str, allowed: frozenset[str]) -> None:
        super().__init__(file)
        self.source = source
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        dotted = f"{module}.{name}"
        if _never(dotted):
            raise UnsafeStateError(
                f"Refused to load {self.source}: it names {dotted}, which can run code and is "
                f"never loaded from saved state, whatever {ALLOW_ENV} says. stillroom did not "
                "write this file: someone who can write to the run's storage did. Delete the "
                "file (or run with use_cache=False) to start afresh, and check who can write "
                "there."
            )
        if dotted not in self.allowed:
            raise UnsafeStateError(
                f"Refused to load {self.source}: it names {dotted}, which stillroom does not "
                "load from saved state (unpickling it could run code). The file may have been "
                "written by someone else, or by a run whose rows held that class. "
                f"{_how_to_allow(dotted)}, or delete the file (or run with use_cache=False) "
                "to start afresh."
            )
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeStateError(f"Refused to load {self.source}: it holds a persistent id.")


def loads(data: bytes, source: str) -> Any:
    """Unpickle `data` (read from `source`, named in errors), refusing any global outside
    `SAFE_GLOBALS` and `STILLROOM_PICKLE_ALLOW` with an `UnsafeStateError`."""
    return _SafeUnpickler(io.BytesIO(data), source, allowed_globals()).load()
