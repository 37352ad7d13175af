"""`MinHashDedup`: flag near-duplicate texts with MinHash and LSH, as rows stream by.

The signatures and the LSH index are datasketch's `MinHash` and `MinHashLSH` (the `[minhash]`
extra), imported by `load()` so that importing stillroom never loads numpy or scipy.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, PositiveInt, PrivateAttr

from stillroom.errors import InvalidRowsError, MissingExtraError, StillroomError, StillroomUserError
from stillroom.steps.base import Step, StepInput
from stillroom.steps.filtering.lsh_storage import SqliteTables
from stillroom.steps.typing import StepColumns, StepOutput

KEEP_COLUMN = "keep_row_after_minhash_filtering"
_WORD = re.compile(r"\w+")


def word_tokens(text: str) -> set[bytes]:
    """The distinct words of a text, case-folded; punctuation and spacing are ignored."""
    return {token.encode("utf-8") for token in _WORD.findall(text.casefold())}


def char_ngrams(text: str, n: int) -> set[bytes]:
    """The distinct runs of `n` characters of a text (the whole text when shorter)."""
    if len(text) <= n:
        return {text.encode("utf-8")} if text else set()
    return {text[i : i + n].encode("utf-8") for i in range(len(text) - n + 1)}


class MinHashDedup(Step):
    """Mark each row whose `text` nearly duplicates an earlier row's.

    Each text becomes a set of tokens (`tokenizer="words"`: its distinct words, ignoring
    case, punctuation and word order; `"ngrams"`: its distinct runs of `n` characters, better for
    languages written without spaces), then a MinHash signature of `num_perm` hashes. An
    LSH index, banded for `threshold`, remembers the kept rows: a row sharing a band with one
    of them is a near-duplicate (Jaccard similarity around `threshold` or more) and gets
    `keep_row_after_minhash_filtering = False`; any other row is kept and indexed. Rows are
    flagged, not removed, and the first occurrence wins, in the order rows arrive. The
    index lives for the step's whole run, so duplicates are found across batches. Empty and
    `None` texts count as equal to each other. Results are the same on every run for a
    given `seed`. Run it with one replica: replicas would each see only part of the rows.
    Needs the `[minhash]` extra (datasketch): `pip install 'stillroom[minhash]'`.

    Attributes:
        num_perm: hashes per signature (at least 2); more is more accurate and slower.
        seed: seed of the hash functions.
        tokenizer: `"words"` or `"ngrams"`.
        n: the n-gram size for `tokenizer="ngrams"`.
        threshold: similarity from which texts count as duplicates (lower finds more).
        storage: `"dict"` keeps the index in memory; `"disk"` keeps datasketch's LSH tables in a
            temporary SQLite file, for inputs whose index does not fit in memory (slower).

    Input columns:
        - text (`str`): the text to compare (map another column with `input_mappings`).

    Output columns:
        - keep_row_after_minhash_filtering (`bool`): False for a near-duplicate.

    Example:
        ```python
        dedup = MinHashDedup(threshold=0.8)
        dedup.load()
        rows = [{"text": "the cat sat on the mat"}, {"text": "on the mat the cat sat"}]
        [r["keep_row_after_minhash_filtering"] for r in next(dedup.process(rows))]
        # [True, False]
        ```
    """

    num_perm: PositiveInt = Field(default=128, description="Hashes per MinHash signature.")
    seed: int = Field(default=1, description="Seed of the hash functions.")
    tokenizer: Literal["words", "ngrams"] = Field(
        default="words", description="Compare sets of words, or of character n-grams."
    )
    n: PositiveInt = Field(default=5, description="n-gram size for tokenizer='ngrams'.")
    threshold: float = Field(
        default=0.9,
        gt=0.0,
        lt=1.0,
        description="Jaccard similarity from which rows are duplicates.",
    )
    storage: Literal["dict", "disk"] = Field(
        default="dict", description="Keep the LSH index in memory ('dict') or on disk."
    )

    _signature: Any = PrivateAttr(default=None)  # an empty datasketch MinHash to copy
    _lsh: Any = PrivateAttr(default=None)  # a datasketch MinHashLSH
    _tables: SqliteTables | None = PrivateAttr(default=None)
    _indexed: int = PrivateAttr(default=0)

    @property
    def inputs(self) -> StepColumns:
        return ["text"]

    @property
    def outputs(self) -> StepColumns:
        return [KEEP_COLUMN]

    def load(self) -> None:
        """Build the hash functions and an empty index."""
        if self.resources.replicas > 1:
            raise StillroomError(
                f"{self._label()} must run as one replica (resources.replicas=1): each "
                "replica would keep its own index and miss duplicates seen by the others."
            )
        self.unload()
        try:
            from datasketch import MinHash, MinHashLSH
        except ImportError as exc:
            raise MissingExtraError(self._label(), "minhash", "datasketch") from exc
        try:
            lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        except ValueError as exc:  # too few permutations, or too few bands for the threshold
            raise StillroomUserError(
                f"{self._label()}: num_perm={self.num_perm} with threshold={self.threshold} "
                f"cannot make an LSH index ({exc}); raise num_perm."
            ) from exc
        if self.storage == "disk":
            self._tables = SqliteTables()
            self._tables.attach(lsh)
        self._lsh = lsh
        self._signature = MinHash(num_perm=self.num_perm, seed=self.seed)
        self._indexed = 0

    def unload(self) -> None:
        """Drop the index (and its temporary file with `storage="disk"`)."""
        if self._tables is not None:
            self._tables.close()
        self._tables = None
        self._lsh = None
        self._signature = None

    def process(self, inputs: StepInput) -> StepOutput:
        """The batch, each row flagged; kept rows join the index."""
        assert self._lsh is not None and self._signature is not None  # set by load()
        lsh, empty = self._lsh, self._signature
        rows = []
        for position, row in enumerate(inputs):
            signature = empty.copy()  # reuses the permutations: no per-row set-up
            signature.update_batch(self._tokens(position, row["text"]))
            keep = not lsh.query(signature)
            if keep:
                lsh.insert(self._indexed, signature, check_duplication=False)
                self._indexed += 1
            rows.append({**row, KEEP_COLUMN: keep})
        yield rows

    def _tokens(self, position: int, text: object) -> set[bytes]:
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise InvalidRowsError(
                f"{self._label()}: column 'text' of row {position} should be a string, got "
                f"{type(text).__name__}. Map the column holding the text with "
                "input_mappings={'text': '<column>'}."
            )
        return word_tokens(text) if self.tokenizer == "words" else char_ngrams(text, self.n)
