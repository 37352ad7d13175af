"""`TruncateTextColumn`: cut a text column to a number of characters or of tokens.

Token counts come from a `tokenizers` tokenizer (the `[tokenizers]` extra, imported by
`load()`); the cut falls at the end of the last token kept, so the kept text is exactly the
start of the original (no decode round trip changing spaces or characters).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PositiveInt, PrivateAttr

from stillroom.errors import MissingExtraError, StillroomTypeError, StillroomUserError
from stillroom.steps.base import Step, StepInput
from stillroom.steps.typing import StepColumns, StepOutput


class TruncateTextColumn(Step):
    """Shorten the text in `column` to at most `max_length` characters, or tokens.

    Without `tokenizer`, the text keeps its first `max_length` characters. With one, it keeps
    its first `max_length` tokens (special tokens are not counted). `tokenizer` is a path to a
    `tokenizer.json` file, a folder holding one (as `save_pretrained` writes), or a Hugging
    Face Hub repository id (downloaded once into the Hub cache). A `None` text stays `None`.
    Tokenizing needs the `[tokenizers]` extra: `pip install 'stillroom[tokenizers]'`.

    Attributes:
        column: the column to truncate, in place.
        max_length: characters (or tokens, with `tokenizer`) to keep.
        tokenizer: where the tokenizer comes from; None to count characters.

    Input columns:
        - dynamic (`column`, `str`): the text to truncate.

    Output columns:
        - dynamic (`column`, `str`): the text, truncated.

    Example:
        ```python
        trunc = TruncateTextColumn(column="text", max_length=10)
        trunc.load()
        next(trunc.process([{"text": "A text longer than ten characters"}]))
        # [{'text': 'A text lon'}]
        ```
    """

    column: str = Field(default="text", description="The column to truncate.")
    max_length: PositiveInt = Field(default=8192, description="Characters or tokens to keep.")
    tokenizer: str | None = Field(
        default=None, description="tokenizer.json path, folder or Hub id; None counts characters."
    )

    _tokenizer: Any = PrivateAttr(default=None)

    @property
    def inputs(self) -> StepColumns:
        return [self.column]

    @property
    def outputs(self) -> StepColumns:
        return [self.column]

    def load(self) -> None:
        super().load()
        if self.tokenizer is None:
            return
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingExtraError(self._label(), "tokenizers", "tokenizers") from exc
        source = Path(self.tokenizer)
        if source.is_dir():
            source = source / "tokenizer.json"
        try:
            if source.is_file():
                self._tokenizer = Tokenizer.from_file(str(source))
            else:
                self._tokenizer = Tokenizer.from_pretrained(self.tokenizer)
        except Exception as exc:
            raise StillroomUserError(
                f"{self._label()}: cannot load tokenizer={self.tokenizer!r} ({exc}). Give a "
                "tokenizer.json file, a folder holding one, or a Hub repository id."
            ) from exc

    def unload(self) -> None:
        self._tokenizer = None
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:
        for index, row in enumerate(inputs):
            text = row.get(self.column)
            if text is None:
                continue
            if not isinstance(text, str):
                raise StillroomTypeError(
                    f"{self._label()}: row {index} has {self.column}={text!r} "
                    f"({type(text).__name__}); expected a string to truncate."
                )
            row[self.column] = self._truncate(text)
        yield inputs

    def _truncate(self, text: str) -> str:
        if self._tokenizer is None:
            return text[: self.max_length]
        offsets = self._tokenizer.encode(text, add_special_tokens=False).offsets
        if len(offsets) <= self.max_length:
            return text
        end: int = offsets[self.max_length - 1][1]
        return text[:end]
