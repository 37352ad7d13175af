"""Show the request a task sends, as `task.print()` does: one panel per message."""

from __future__ import annotations

import json

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
