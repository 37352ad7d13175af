"""MinHash signatures and a banded LSH index, in plain Python (stdlib only).

MinHash: for each of `num_perm` independent hash functions, a document's signature keeps
the smallest hash of its tokens. Two documents agree on one position with probability
equal to the Jaccard similarity of their token sets. Here the `num_perm` hash functions
are the 32-bit words of one SHAKE-128 output per token (an extendable-output function, so
every word is an independent pseudo-random function of the seed and the token); the
per-position minimum over tokens is then a C-level `map(min, ...)`.

LSH: the signature is cut into `bands` bands of `rows` positions; documents sharing any
whole band are candidates. A pair of similarity s becomes a candidate with probability
1 - (1 - s^rows)^bands, an S-curve whose steepest point sits near the threshold when
`bands` and `rows` are chosen by `optimal_bands`.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import sys
import tempfile
from array import array
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

_EMPTY = 0xFFFFFFFF  # the "minimum" of no tokens: every empty document looks alike


class MinHasher:
    """Computes `num_perm`-long MinHash signatures, reproducibly for a given `seed`."""

    def __init__(self, num_perm: int, seed: int) -> None:
        self.num_perm = num_perm
        self._base = hashlib.shake_128(b"stillroom-minhash:%d:" % seed)
        self._swap = sys.byteorder == "big"  # same signatures on every platform

    def _token_hashes(self, token: bytes) -> list[int]:
        digest = self._base.copy()
        digest.update(token)
        words = array("I", digest.digest(4 * self.num_perm))
        if self._swap:
            words.byteswap()
        return words.tolist()

    def signature(self, tokens: Iterable[bytes]) -> list[int]:
        """The signature of a set of tokens (all `_EMPTY` for no tokens)."""
        hashes = [self._token_hashes(token) for token in tokens]
        if not hashes:
            return [_EMPTY] * self.num_perm
        if len(hashes) == 1:
            return hashes[0]
        return list(map(min, *hashes))


def _candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Chance that two documents of this similarity share at least one band."""
    return 1 - (1 - similarity**rows) ** bands


def _area(bands: int, rows: int, low: float, high: float, steps: int = 64) -> float:
    """Area under the S-curve between `low` and `high` (midpoint rule)."""
    width = (high - low) / steps
    points = (low + (k + 0.5) * width for k in range(steps))
    return sum(_candidate_probability(s, bands, rows) for s in points) * width


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """`(bands, rows)` with `bands * rows <= num_perm` whose S-curve best fits `threshold`.

    Minimises the area of false positives (pairs below the threshold that become candidates)
    plus the area of false negatives (pairs above it that do not), weighted equally, as in
    the banding analysis of Leskovec, Rajaraman and Ullman, *Mining of Massive Datasets*, 3.4.
    """
    best: tuple[float, int, int] = (float("inf"), 1, num_perm)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_pos = _area(bands, rows, 0.0, threshold)
            false_neg = (1.0 - threshold) - _area(bands, rows, threshold, 1.0)
            if false_pos + false_neg < best[0]:
                best = (false_pos + false_neg, bands, rows)
    return best[1], best[2]


class Buckets(Protocol):
    """Where band keys of kept documents live."""

    def add_unless_seen(self, keys: list[bytes]) -> bool:
        """True if any band key was seen before (nothing stored); else store them, False."""
        ...

    def close(self) -> None: ...


class MemoryBuckets:
    """Band keys in one Python set per band."""

    def __init__(self, bands: int) -> None:
        self._bands: list[set[bytes]] = [set() for _ in range(bands)]

    def add_unless_seen(self, keys: list[bytes]) -> bool:
        if any(key in band for key, band in zip(keys, self._bands, strict=True)):
            return True
        for key, band in zip(keys, self._bands, strict=True):
            band.add(key)
        return False

    def close(self) -> None:
        self._bands = [set() for _ in self._bands]


class SqliteBuckets:
    """Band keys in a SQLite table in a private temporary directory, for very large inputs.

    The connection may be used from another thread than the one that opened it (engines run
    a step's `load` and `process` on different threads), but never from two at once.
    """

    def __init__(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="stillroom-minhash-")
        self._db = sqlite3.connect(
            Path(self._directory) / "buckets.sqlite", check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE buckets (band INTEGER, key BLOB, PRIMARY KEY (band, key)) WITHOUT ROWID"
        )

    def add_unless_seen(self, keys: list[bytes]) -> bool:
        pairs = list(enumerate(keys))
        for band, key in pairs:
            hit = self._db.execute(
                "SELECT 1 FROM buckets WHERE band = ? AND key = ?", (band, key)
            ).fetchone()
            if hit:
                return True
        self._db.executemany("INSERT OR IGNORE INTO buckets VALUES (?, ?)", pairs)
        return False

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._directory, ignore_errors=True)


class LSHIndex:
    """Flags documents whose signature shares a band with an earlier kept document."""

    def __init__(self, bands: int, rows: int, buckets: Buckets) -> None:
        self.bands = bands
        self.rows = rows
        self._buckets = buckets

    def band_keys(self, signature: list[int]) -> list[bytes]:
        raw = array("I", signature[: self.bands * self.rows])
        if sys.byteorder == "big":
            raw.byteswap()
        data = raw.tobytes()
        width = 4 * self.rows
        return [data[b * width : (b + 1) * width] for b in range(self.bands)]

    def is_duplicate(self, signature: list[int]) -> bool:
        """True for a near-duplicate of a kept document; otherwise keep (index) this one."""
        return self._buckets.add_unless_seen(self.band_keys(signature))

    def close(self) -> None:
        self._buckets.close()
