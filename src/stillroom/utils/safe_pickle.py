"""Pickle for the state a run saves (checkpoints, pending batches, Ray parts and ledgers),
read back without running code.

Loading a pickle runs whatever callable its GLOBAL/REDUCE opcodes name, so anyone who can
write to a run's cache directory, NFS share or bucket could make the next resume run code.
`loads` gives the unpickler only the classes a run's state is made of: the builtin and
standard-library data types rows hold (sets, bytes, datetimes, Decimal, UUID, paths,
collections' containers) and the engine's batch classes. Any other global (os.system,
builtins.eval or getattr, subprocess, functools.partial, numpy's own rebuilders, a user's
class) is refused before its module is even imported, with an `UnsafeStateError` naming the
file, the global and how to allow a trusted class (`STILLROOM_PICKLE_ALLOW`, classes only:
a function is never loaded); the globals of modules that run code or reach the system
(`_NEVER`) stay refused whatever the user allows.

The loader also refuses what a file could do with the classes it may name: set attributes
of a class or function (BUILD: `PurePath.__fspath__` patched for the whole process), call a
plain builtin type (`bytearray(2**40)`), build a Fraction from text with an exponent, or
build an object array. numpy arrays and scalars are written as their dtype (as plain data:
`dtype.str`, or a structured dtype's fields), shape and bytes and rebuilt by `_array` and
`_scalar` here, which refuse dtypes holding Python objects: numpy's own pickles restore a
dtype with the flags the file holds, and an object dtype with the wrong flags reads raw
bytes as object pointers.

`dumps` (the C pickler) refuses the same globals and object arrays when writing, so what the
engine saves always loads: a batch holding another class is not checkpointed (the run says
which class and goes on). `loads` is the pure-Python unpickler (C's opcodes cannot be
checked), about 10 times slower than C's: 60,000 rows/s (125 MB/s) against 670,000 for text
rows, 60,000 against 540,000 for rows with datetimes and numpy vectors
(`benchmarks/safe_pickle_cost.py`, 2026-12-05), so 0.2 s for a 10,000-row checkpoint. A run
pays it only when it resumes, when Ray loses a batch's object and reads its part back, and
for Ray's request ledgers when a replica starts.

Why not a data-only format (tagged JSON, Arrow)? Rows hold any Python value a step puts
there (tuples, sets, bytes, datetimes, numpy arrays, a user's values), in any mix from row
to row: JSON would need a Python walk of every value to tag tuples and bytes, and Arrow a
schema the rows often do not share. Pickle protocol 5 keeps them as they were, and the only
ways a pickle runs code are the globals it names and what it calls them with.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn
from zoneinfo import ZoneInfo

from stillroom.errors import UnsafeStateError

ALLOW_ENV = "STILLROOM_PICKLE_ALLOW"
"""Extra classes (comma- or space-separated dotted names, e.g. `ipaddress.IPv4Address`)
that saved state may hold, for a run whose rows hold values of other classes."""


class _Refused(ValueError):
    """A value `_array` or `_scalar` will not rebuild (`loads` names the file)."""


def _dtype(descr: Any) -> Any:
    """`numpy.dtype(descr)`, refused when its items hold Python objects (read as pointers)
    or are empty; built from the description, so its flags are numpy's own."""
    import numpy

    dtype = numpy.dtype(descr)
    if dtype.hasobject or dtype.itemsize == 0:
        raise _Refused(
            f"a numpy array or scalar of dtype {dtype} (items that are Python objects or "
            "empty), which saved state never holds"
        )
    return dtype


def _array(descr: Any, shape: tuple[int, ...], fortran: bool, data: bytes) -> Any:
    """The numpy array `_SafePickler` wrote as its dtype, shape, order and bytes."""
    import numpy

    flat = numpy.frombuffer(data, _dtype(descr)).copy()
    return flat.reshape(shape, order="F" if fortran else "C")


def _scalar(descr: Any, data: bytes) -> Any:
    """The numpy scalar `_SafePickler` wrote as its dtype and bytes."""
    import numpy

    return numpy.frombuffer(data, _dtype(descr)).copy().reshape(())[()]


_REBUILDERS: tuple[Callable[..., Any], ...] = (_array, _scalar)
"""stillroom's own functions that saved state may call: the only functions it names."""


def _rebuilder(obj: object) -> bool:
    """Whether `obj` is one of `_REBUILDERS` (by identity: `obj` may be any value)."""
    return any(obj is function for function in _REBUILDERS)


_PLAIN_TYPES = (list, tuple, dict, set, frozenset, bytes, bytearray, str, int, float, bool)
"""Named by saved state only as a defaultdict's factory or a base: stillroom's pickles
(protocol 5) have opcodes for their values, so a file calling one was crafted (and
`bytearray(2**40)` would ask for a terabyte)."""

SAFE_GLOBALS = frozenset(
    {
        *(f"builtins.{n}" for n in ("complex", "slice", "range")),
        *(f"builtins.{t.__name__}" for t in _PLAIN_TYPES),
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
        # numpy arrays and scalars, rebuilt from their dtype and bytes
        *(f"{__name__}.{f.__name__}" for f in _REBUILDERS),
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
        "numpy",  # its rebuilders take a dtype's flags from the file: `_array` replaces them
    }
)
"""Modules whose globals run code, reach the system or read memory: never loaded, whatever
the user allows (the safe builtins above excepted)."""


def _never(name: str) -> bool:
    return name not in SAFE_GLOBALS and name.split(".", 1)[0] in _NEVER


def allowed_globals() -> frozenset[str]:
    """`SAFE_GLOBALS` and those `STILLROOM_PICKLE_ALLOW` adds (but none of `_NEVER`'s)."""
    extra = os.environ.get(ALLOW_ENV, "").replace(",", " ").split()
    return SAFE_GLOBALS.union(n for n in extra if not _never(n)) if extra else SAFE_GLOBALS


def _how_to_allow(name: str) -> str:
    return (
        f"If {name} is a plain data class you trust (building it from the file's values "
        f'reads no file and runs no code), allow it with {ALLOW_ENV}="{name}" (dotted '
        "names, comma-separated) in the environment of the run (and of a Ray cluster's "
        "workers)"
    )


class _SafePickler(pickle.Pickler):
    """Refuses to write what `_SafeUnpickler` would refuse to read; writes numpy arrays
    and scalars through `_array` and `_scalar`."""

    def __init__(self, file: io.BytesIO, allowed: frozenset[str]) -> None:
        super().__init__(file, protocol=5)
        self.allowed = allowed
        self.value: type | None = None

    def reducer_override(self, obj: Any) -> Any:
        """Called for each object that is not a plain builtin value (not for str, dict,
        list, ...), and for each class or function pickle is about to name."""
        if isinstance(obj, ZoneInfo) and obj.key is not None:
            return ZoneInfo, (obj.key,)  # by key, not through builtins.getattr
        if type(obj).__module__ == "numpy":  # numpy is imported if a row holds its values
            reduced = _reduce_numpy(obj)
            if reduced is not None:
                return reduced
        if not _named_by_pickle(obj):
            self.value = type(obj)
            return NotImplemented
        name = f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', obj)}"
        if name not in self.allowed or not (isinstance(obj, type) or _rebuilder(obj)):
            value = self.value and f"{self.value.__module__}.{self.value.__qualname__}"
            found = f" (in a {value})" if value and value != name else ""
            if not isinstance(obj, type):
                advice = "A function is never loaded from saved state: keep plain data in rows"
            elif _never(name):
                advice = "Saved state never holds it, whatever you allow: keep plain data in rows"
            else:
                advice = _how_to_allow(name)
            raise pickle.PicklingError(
                f"a value needs {name}{found} to be rebuilt, which saved state may not hold. "
                f"{advice}"
            )
        return NotImplemented


def _describe(dtype: Any) -> Any:
    """`dtype` as plain data `numpy.dtype` takes back: its `str` (`<f8`), a subarray's
    `(base, shape)`, a structured dtype's fields with their offsets, titles and itemsize."""
    if dtype.fields is None:
        return dtype.str if dtype.subdtype is None else (_describe(dtype.subdtype[0]), dtype.shape)
    fields = [dtype.fields[name] for name in dtype.names]
    return {
        "names": list(dtype.names),
        "formats": [_describe(field[0]) for field in fields],
        "offsets": [field[1] for field in fields],
        "titles": [field[2] if len(field) > 2 else None for field in fields],
        "itemsize": dtype.itemsize,
        "aligned": dtype.isalignedstruct,
    }


def _reduce_numpy(obj: Any) -> Any:
    """A numpy array or scalar as `_array`'s or `_scalar`'s arguments (its dtype by
    description, shape, order, bytes); None for numpy's other values and classes (refused as
    globals) and an array's subclasses (a masked array would lose its mask)."""
    import numpy

    if type(obj) is not numpy.ndarray and not isinstance(obj, numpy.generic):
        return None
    dtype = obj.dtype
    descr = _describe(dtype)
    try:
        rebuilt = _dtype(descr)
    except _Refused as exc:
        raise pickle.PicklingError(
            f"a value holds {exc}: keep plain values in rows (e.g. `.tolist()`) or arrays "
            "of numbers, booleans, text or bytes"
        ) from None
    if rebuilt != dtype:
        raise pickle.PicklingError(f"a numpy dtype, {dtype!r}, is not rebuilt from {descr!r}")
    if isinstance(obj, numpy.generic):
        return _scalar, (descr, obj.tobytes())
    fortran = obj.flags.f_contiguous and not obj.flags.c_contiguous
    return _array, (descr, obj.shape, fortran, obj.tobytes(order="F" if fortran else "C"))


def dumps(obj: Any) -> bytes:
    """`obj` pickled (protocol 5); `pickle.PicklingError` naming the global when it holds a
    value that `loads` would refuse."""
    buffer = io.BytesIO()
    _SafePickler(buffer, allowed_globals()).dump(obj)
    return buffer.getvalue()


_NOT_INSTANCES = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


class _SafeUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, its globals restricted (`find_class`) and its opcodes
    that set state or call a class checked (its own copy of `dispatch`)."""

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(pickle._Unpickler.dispatch)
    stack: list[Any]

    def __init__(self, file: io.BytesIO, source: str, allowed: frozenset[str]) -> None:
        super().__init__(file)
        self.source = source
        self.allowed = allowed
        self.found: set[type] = set()

    def refuse(self, what: str) -> NoReturn:
        raise UnsafeStateError(
            f"Refused to load {self.source}: it {what}, which stillroom never writes. Someone "
            "who can write to the run's storage wrote this file: delete it (or run with "
            "use_cache=False) to start afresh, and check who can write there."
        )

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
        found = super().find_class(module, name)
        if isinstance(found, type):
            self.found.add(found)
        elif not _rebuilder(found):
            raise UnsafeStateError(
                f"Refused to load {self.source}: it names {dotted}, which is not a class: "
                f"saved state never calls a function, whatever {ALLOW_ENV} says ({ALLOW_ENV} "
                "takes plain data classes only). Delete the file (or run with use_cache=False) "
                "to start afresh."
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeStateError(f"Refused to load {self.source}: it holds a persistent id.")

    def check_call(self, cls: Any, args: Any, how: str) -> None:
        """Refuse calling a plain builtin type (REDUCE, INST, OBJ) or creating one (NEWOBJ),
        and a Fraction from text with an exponent (`Fraction("1e1000000000")` computes
        10**1000000000; stillroom writes a Fraction as its numerator and denominator)."""
        if isinstance(cls, type) and cls in _PLAIN_TYPES:
            self.refuse(f"{how} {cls.__name__}")
        fraction = getattr(sys.modules.get("fractions"), "Fraction", None)  # kept unimported
        if cls is fraction and any(isinstance(a, str) and "e" in a.lower() for a in args):
            self.refuse(f"{how} Fraction from {str(args)[:60]}")

    def call(self, cls: Any, args: Any) -> Any:
        """`cls(*args)` (REDUCE, INST, OBJ) for a class or a rebuilder, checked."""
        if not isinstance(cls, type) and not _rebuilder(cls):
            self.refuse(f"calls a {type(cls).__qualname__}")
        self.check_call(cls, args, "calls")
        try:
            return cls(*args)
        except _Refused as exc:
            self.refuse(f"holds {exc}")

    def new(self, cls: Any, args: Any, kwargs: Any = None) -> Any:
        """`cls.__new__(cls, *args, **kwargs)` (NEWOBJ, NEWOBJ_EX) for a class, checked."""
        if not isinstance(cls, type):
            self.refuse(f"creates an object from a {type(cls).__name__} by NEWOBJ")
        self.check_call(cls, args, "creates a")
        return cls.__new__(cls, *args, **(kwargs or {}))

    def load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self.call(self.stack[-1], args)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self.new(self.stack[-1], args)

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        self.stack[-1] = self.new(self.stack[-1], args, kwargs)

    def _instantiate(self, klass: Any, args: Any) -> None:
        self.stack.append(self.call(klass, args))

    def load_build(self) -> None:
        """Give state only to an instance of a class the file named: never to a class or
        function (that would patch it for the whole process) nor to what a rebuilder made."""
        inst = self.stack[-2]
        if isinstance(inst, _NOT_INSTANCES) or type(inst) not in self.found:
            what = getattr(inst, "__qualname__", None) or f"a {type(inst).__qualname__}"
            self.refuse(f"sets attributes of {what}")
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build


def loads(data: bytes, source: str) -> Any:
    """Unpickle `data` (read from `source`, named in errors), refusing any global outside
    `SAFE_GLOBALS` and `STILLROOM_PICKLE_ALLOW`, and what the file could do with those, with
    an `UnsafeStateError`."""
    return _SafeUnpickler(io.BytesIO(data), source, allowed_globals()).load()
