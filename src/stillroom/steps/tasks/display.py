"""Show the request a task sends: `task.print()` (`RequestPrintMixin`), one panel per message."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError
from stillroom.models.mixins.magpie import MagpieChatTemplateMixin
from stillroom.steps.typing import Row
from stillroom.typing import FormattedInput

_ROLE_STYLES = {"system": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


def show_formatted_input(
    formatted: FormattedInput, title: str, pre_query: str | None = None
) -> None:
    """Print the messages (and the structured output, if any) of one request.

    `pre_query` is the Magpie pre-query template the LLM appends after the messages.
    """
    from rich.console import Console, Group  # imported here: only print() needs rich
    from rich.panel import Panel
    from rich.text import Text

    messages, structured = formatted if isinstance(formatted, tuple) else (formatted, None)
    panels = [
        Panel(
            Text(str(message.get("content", ""))),
            title=message.get("role", "?"),
            title_align="left",
            border_style=_ROLE_STYLES.get(message.get("role", ""), "white"),
        )
        for message in messages
    ]
    if not panels:
        panels.append(Panel(Text("(no messages)"), title="empty conversation", title_align="left"))
    if pre_query:
        panels.append(
            Panel(
                Text(repr(pre_query)),
                title="appended by the LLM: Magpie pre-query (the reply is a user message)",
                title_align="left",
                border_style="cyan",
            )
        )
    if structured:
        panels.append(
            Panel(
                Text(json.dumps(structured, indent=2, default=str)),
                title="structured output",
                title_align="left",
                border_style="blue",
            )
        )
    Console().print(Panel(Group(*panels), title=title, title_align="left"))


class RequestPrintMixin:
    """A task's `print()`: the request it sends, for a given row or messages, else for a
    sample it builds (`_sample_input`)."""

    if TYPE_CHECKING:
        llm: Any
        name: str | None

        def _label(self) -> str: ...  # the task's

    def _sample_input(self) -> FormattedInput:
        """The request `print()` shows when it is given no sample."""
        raise StillroomError(
            f"{self._label()} cannot build a sample request: pass one to print(), or override "
            "_sample_input()."
        )

    def print(self, sample_input: Row | FormattedInput | None = None) -> None:
        """Print the request this task sends: for `sample_input` when given (a row, or
        messages), else for a row of `<PLACEHOLDER_...>` values."""
        if sample_input is None:
            formatted = self._sample_input()
        elif isinstance(sample_input, dict):
            formatted = self.formatted_request(sample_input)  # type: ignore[attr-defined]
        else:
            formatted = sample_input
        messages = formatted[0] if isinstance(formatted, tuple) else formatted
        pre_query = (
            self.llm.magpie_pre_query_for(messages)
            if isinstance(self.llm, MagpieChatTemplateMixin)
            else None
        )
        show_formatted_input(formatted, f"{type(self).__name__} {self.name!r}", pre_query)
