"""`safe_pickle`: what a run saves loads back whole, and a pickle naming any other global
(os.system, exec, functools.partial, a class nobody allowed) is refused without running."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import fractions
import ipaddress
import os
import pathlib
import pickle
import subprocess
import sys
import tracemalloc
import uuid
import zoneinfo
from typing import Any

import pytest

from stillroom.errors import UnsafeStateError
from stillroom.pipeline.batch import Batch, RoutedAway
from stillroom.pipeline.writers import Encoded
from stillroom.utils import safe_pickle
from stillroom.utils.safe_pickle import ALLOW_ENV

ROW_VALUES: list[Any] = [
    "text",
    7,
    1.5,
    None,
    True,
    b"\x00bytes",
    bytearray(b"buffer"),
    (1, "tuple"),
    {1, 2},
    frozenset({"a"}),
    [1, [2, {"nested": (3,)}]],
    complex(1, 2),
    range(3),
    slice(1, 5, 2),
    dt.datetime(2026, 12, 5, 6, 30, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 12, 5, 6, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    dt.date(2026, 12, 5),
    dt.time(6, 30),
    dt.timedelta(seconds=3),
    decimal.Decimal("1.10"),
    fractions.Fraction(1, 3),
    uuid.uuid4(),
    pathlib.PurePosixPath("a/b"),
    pathlib.Path("/tmp/x"),
    collections.OrderedDict(a=1),
    collections.defaultdict(list, a=[1]),
    collections.Counter("abca"),
    collections.deque([1, 2]),
]


def test_every_value_rows_hold_and_the_engines_batches_round_trip() -> None:
    rows = [{"column": value} for value in ROW_VALUES]
    state = [Batch(1, 0, rows), RoutedAway(2, 1, []), Encoded(3, 2, 2, b'{"a":1}\n{"a":2}\n')]
    assert safe_pickle.loads(safe_pickle.dumps(state), "test") == state


def test_numpy_arrays_and_scalars_round_trip() -> None:
    np = pytest.importorskip("numpy")
    values = [
        np.arange(6.0).reshape(2, 3),
        np.asfortranarray(np.arange(6, dtype=">i4").reshape(2, 3)),
        np.arange(12.0).reshape(3, 4)[:, ::2],
        np.zeros((2, 0)),
        np.array(3),
        np.array(["a", "bé"]),
        np.array([(1, 2.5, b"xy")], dtype=[("a", "<i2"), ("b", [("c", ">f8")]), ("d", "S2")]),
        np.array(["2026-12-05"], dtype="datetime64[D]"),
        np.ones(2, dtype=np.dtype([("a", "i1"), ("b", "<f8", (2,))], align=True)),
        np.float32(1.5),
        np.int64(3),
        np.bool_(True),
        np.str_("text"),
        np.datetime64("2026-12-05T06:30"),
    ]
    data = safe_pickle.dumps(values)
    assert b"numpy" not in data  # only stillroom's own rebuilders are named
    loaded = safe_pickle.loads(data, "test")
    for got, value in zip(loaded, values, strict=True):
        assert type(got) is type(value) and got.dtype == value.dtype
        assert got.shape == value.shape and np.array_equal(got, value)
    assert loaded[1].flags.f_contiguous and all(a.flags.writeable for a in loaded[:9])


EVIL_NUMPY = """
import pickle, struct
import numpy as np
from stillroom.errors import UnsafeStateError
from stillroom.utils import safe_pickle

fields = np.dtype([("a", "O")])
bad = np.dtype(*fields.__reduce__()[1])
bad.__setstate__(fields.__reduce__()[2][:-1] + (0,))  # an object dtype with flags 0

class Evil:
    def __reduce__(self):
        return np.ndarray, ((1,), bad, struct.pack("<Q", 0x4141414141414140))

data = pickle.dumps({"rows": [Evil()]}, protocol=5)
try:
    loaded = safe_pickle.loads(data, "checkpoint.pkl")
except UnsafeStateError as exc:
    print("refused:", exc)
else:
    print(loaded["rows"][0][0])  # reads the bytes as a pointer: crashes
"""


def test_numpy_globals_that_read_bytes_as_pointers_are_refused() -> None:
    """numpy's own pickles rebuild a dtype with the file's flags: an object dtype with flags
    0 makes an array read raw bytes as object pointers (a crash, or worse)."""
    pytest.importorskip("numpy")
    src = str(pathlib.Path(safe_pickle.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run(
        [sys.executable, "-c", EVIL_NUMPY], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "refused: Refused to load checkpoint.pkl: it names numpy.ndarray" in done.stdout


def test_object_arrays_are_never_written_nor_rebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    np = pytest.importorskip("numpy")
    for value in (np.array([1, None]), np.zeros(2, dtype=[("a", "O")])):
        with pytest.raises(pickle.PicklingError, match=r"dtype .*Python objects"):
            safe_pickle.dumps([{"column": value}])
    crafted = b"\x80\x05cstillroom.utils.safe_pickle\n_array\n(X\x02\x00\x00\x00|O" + (
        b"K\x01\x85\x89C\x08AAAAAAAAtR."
    )
    with pytest.raises(UnsafeStateError, match=r"Refused to load part\.pkl: it holds .*dtype"):
        safe_pickle.loads(crafted, "part.pkl")
    monkeypatch.setenv(ALLOW_ENV, "numpy.dtype,numpy.ndarray")  # never, whatever is allowed
    with pytest.raises(pickle.PicklingError, match="Saved state never holds it"):
        safe_pickle.dumps([np.dtype("f8")])
    with pytest.raises(UnsafeStateError, match=f"whatever {ALLOW_ENV} says"):
        safe_pickle.loads(pickle.dumps(np.dtype("f8")), "part.pkl")


def _builds(module: str, name: str, attribute: str) -> bytes:
    """A protocol 0 pickle setting `module.name.attribute = bytes` by BUILD."""
    return f"c{module}\n{name}\n(N(dS'{attribute}'\ncbuiltins\nbytes\nstb.".encode()


def test_state_is_never_set_on_a_class_or_a_function() -> None:
    """BUILD with (None, {name: value}) would setattr on whatever it is given: patching
    `PurePath.__fspath__` makes every path `b''` for the whole process."""
    fspath = pathlib.PurePath.__dict__["__fspath__"]
    eq = Batch.__dict__["__eq__"]
    try:
        for module, name, attribute, what in (
            ("pathlib", "PurePath", "__fspath__", "PurePath"),
            ("stillroom.pipeline.batch", "Batch", "__eq__", "Batch"),
            ("stillroom.utils.safe_pickle", "_array", "__defaults__", "_array"),
        ):
            with pytest.raises(UnsafeStateError, match=f"sets attributes of {what}"):
                safe_pickle.loads(_builds(module, name, attribute), "/runs/sig/part.pkl")
        assert pathlib.PurePath.__dict__["__fspath__"] is fspath
        assert os.fspath(pathlib.Path("a/b")) == "a/b"
        assert Batch.__dict__["__eq__"] is eq and Batch(1, 0, []) == Batch(1, 0, [])
    finally:
        pathlib.PurePath.__fspath__ = fspath  # type: ignore[method-assign]
        Batch.__eq__ = eq  # type: ignore[method-assign]
    # an instance of a class the file named still takes its state (a dataclass's fields)
    assert safe_pickle.loads(safe_pickle.dumps(Batch(3, 1, [{"a": 1}])), "t") == Batch(
        3, 1, [{"a": 1}]
    )


HUGE = (2**40).to_bytes(6, "little")  # a 1 TB buffer asked for in a few bytes


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\x80\x02cbuiltins\nbytearray\n\x8a\x06" + HUGE + b"\x85R.", "calls bytearray"),
        (b"\x80\x02cbuiltins\nbytes\n\x8a\x06" + HUGE + b"\x85R.", "calls bytes"),
        (b"\x80\x02cbuiltins\nbytes\n\x8a\x06" + HUGE + b"\x85\x81.", "creates a bytes"),
        (b"\x80\x04cbuiltins\nbytes\n\x8a\x06" + HUGE + b"\x85}\x92.", "creates a bytes"),
        (b"\x80\x02cbuiltins\nbytearray\n\x8a\x06" + HUGE + b"\x85\x81.", "creates a bytearray"),
        (b"(cbuiltins\nbytearray\n\x8a\x06" + HUGE + b"o.", "calls bytearray"),
        (
            b"\x80\x02cfractions\nFraction\nX\x0b\x00\x00\x001e999999999\x85R.",
            "calls Fraction from",
        ),
        (
            b"\x80\x02cfractions\nFraction\nX\x0b\x00\x00\x001E999999999\x85\x81.",
            "creates a Fraction from",
        ),
    ],
    ids=[
        "REDUCE bytearray",
        "REDUCE bytes",
        "NEWOBJ bytes",
        "NEWOBJ_EX bytes",
        "NEWOBJ bytearray",
        "OBJ",
        "Fraction exponent",
        "NEWOBJ Fraction exponent",
    ],
)
@pytest.mark.timeout(20)  # before the check, the Fraction took hours
def test_a_few_bytes_never_ask_for_a_terabyte_or_hours(data: bytes, what: str) -> None:
    """A plain builtin type is never called (stillroom's pickles have opcodes for their
    values), nor a Fraction built from text with an exponent."""
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeStateError, match=f"part.pkl: it {what}"):
            safe_pickle.loads(data, "part.pkl")
        assert tracemalloc.get_traced_memory()[1] < 10**6
    finally:
        tracemalloc.stop()


def test_only_a_class_or_stillrooms_rebuilders_are_called() -> None:
    with pytest.raises(UnsafeStateError, match="it calls a PurePosixPath"):
        safe_pickle.loads(b"\x80\x02cpathlib\nPurePath\n)R)R.", "part.pkl")


def test_an_allowed_function_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """`STILLROOM_PICKLE_ALLOW` takes classes: a function (`pandas.read_pickle`, `json.loads`)
    would be called with the file's arguments."""
    import json

    monkeypatch.setenv(ALLOW_ENV, "json.loads, ipaddress.IPv4Address")
    data = b"\x80\x02cjson\nloads\nX\x03\x00\x00\x00[1]\x85R."
    assert pickle.loads(data) == [1]  # plain pickle calls it
    with pytest.raises(UnsafeStateError, match=r"names json\.loads, which is not a class"):
        safe_pickle.loads(data, "part.pkl")
    with pytest.raises(pickle.PicklingError, match="A function is never loaded"):
        safe_pickle.dumps([{"f": json.loads}])


@pytest.mark.parametrize(
    "payload",
    [
        "os.system",
        "builtins.exec",
        "functools.partial",
        "protocol 0 GLOBAL",
        "inside a checkpoint's state",
    ],
)
def test_a_hostile_pickle_is_refused_and_never_runs(hostile_pickles: Any, payload: str) -> None:
    data = hostile_pickles.payloads[payload]
    with pytest.raises(UnsafeStateError) as raised:
        safe_pickle.loads(data, "/runs/sig/checkpoint.pkl")
    assert not hostile_pickles.marker.exists()
    message = str(raised.value)
    assert "Refused to load /runs/sig/checkpoint.pkl" in message
    assert "never loaded from saved state" in message and "Delete the file" in message
    # the payload is a real one: plain pickle runs it
    pickle.loads(data)
    assert hostile_pickles.marker.exists()


def test_the_error_names_the_class_found_and_how_to_allow_it() -> None:
    data = pickle.dumps(ipaddress.IPv4Address("10.0.0.1"))
    with pytest.raises(UnsafeStateError, match=r"names ipaddress\.IPv4Address") as raised:
        safe_pickle.loads(data, "part.pkl")
    assert f'{ALLOW_ENV}="ipaddress.IPv4Address"' in str(raised.value)
    assert "delete the file" in str(raised.value)


def test_what_runs_code_stays_refused_whatever_the_user_allows(
    hostile_pickles: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_ENV, "builtins.exec posix.system functools.partial builtins.eval")
    for data in hostile_pickles.payloads.values():
        with pytest.raises(UnsafeStateError, match=f"whatever {ALLOW_ENV} says"):
            safe_pickle.loads(data, "checkpoint.pkl")
    assert not hostile_pickles.marker.exists()
    with pytest.raises(pickle.PicklingError, match=r"builtins\.exec"):
        safe_pickle.dumps([{"f": exec}])


def test_writing_refuses_what_loading_would_and_names_the_class() -> None:
    with pytest.raises(pickle.PicklingError, match=rf'{ALLOW_ENV}="ipaddress.IPv4Address"'):
        safe_pickle.dumps([{"ip": ipaddress.IPv4Address("10.0.0.1")}])
    with pytest.raises(pickle.PicklingError, match="A function is never loaded"):
        safe_pickle.dumps([{"f": len}])
    with pytest.raises(pickle.PicklingError, match=r"builtins\.getattr \(in a"):
        safe_pickle.dumps([{"method": "text".upper}])


def test_an_allowed_extra_class_loads_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"ip": ipaddress.IPv4Address("10.0.0.1")}]
    monkeypatch.setenv(ALLOW_ENV, "uuid.NAMESPACE_DNS, ipaddress.IPv4Address")
    data = safe_pickle.dumps(rows)
    assert safe_pickle.loads(data, "test") == rows
    monkeypatch.delenv(ALLOW_ENV)
    with pytest.raises(UnsafeStateError, match=r"ipaddress\.IPv4Address"):
        safe_pickle.loads(data, "test")
