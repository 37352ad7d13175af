"""`NoneOnUnreadableReply`: `format_output` gives None outputs for a reply it cannot read.

distilabel's tasks return None outputs from `format_output` when a reply is missing or
malformed, and code ported from it (and its tests) expects that. A run must still say why a
row's outputs are None, so such a task parses in `_read_reply`, which raises: the engine
calls `_read_reply` and records the error in the row's metadata, while a direct
`format_output` call gets the Nones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillroom.steps.typing import Row


class NoneOnUnreadableReply:
    """Mix in before a `Task`: implement `_read_reply(text, row)`, raising `ValueError` for a
    reply that does not follow the task's format."""

    if TYPE_CHECKING:

        def _output_on_failure(self) -> dict[str, Any]: ...

        def _reply_text(self, output: Any) -> str | None: ...

    def _read_reply(self, text: str, row: Row | None) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _read_reply")

    def format_output(self, output: Any, input: dict[str, Any] | None = None) -> dict[str, Any]:
        """The task's outputs read from the reply; all None when it is missing or unreadable."""
        text = self._reply_text(output)
        if text is None:
            return self._output_on_failure()
        try:
            return self._read_reply(text, input)
        except ValueError:
            return self._output_on_failure()
