"""`safe_pickle`: what a run saves loads back whole, and a pickle naming any other global
(os.system, exec, functools.partial, a class nobody allowed) is refused without running."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import fractions
import ipaddress
import pathlib
import pickle
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
    values = [np.arange(6.0).reshape(2, 3), np.array(["a", "b"]), np.float32(1.5), np.int64(3)]
    loaded = safe_pickle.loads(safe_pickle.dumps(values), "test")
    assert all(
        np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(loaded, values, strict=True)
    )


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
