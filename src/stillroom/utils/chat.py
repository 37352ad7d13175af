"""Helpers for conversations in the OpenAI chat format (mirrors `distilabel.utils.chat`)."""

from __future__ import annotations

from typing import Any

from stillroom.errors import StillroomUserError
from stillroom.typing import ChatType, ImageContent, TextContent


def content_text(content: str | list[TextContent | ImageContent]) -> str:
    """A message's text: the string itself, or its text parts joined (images left out)."""
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content if part["type"] == "text")


def is_openai_format(input: Any) -> bool:
    """Whether `input` is a conversation in the OpenAI chat format: a list of dicts, each
    with a `role` and a `content`."""
    return isinstance(input, list) and all(
        isinstance(item, dict) and "role" in item and "content" in item for item in input
    )


def check_ends_with_user(messages: ChatType, owner: str) -> None:
    """Refuse a conversation the assistant cannot answer: one whose last message is not the
    user's. `owner` names the step in the error."""
    if messages and messages[-1]["role"] != "user":
        raise StillroomUserError(
            f"{owner}: The last message must be from the user, for the assistant to answer "
            f"(this conversation ends with a {messages[-1]['role']!r} message)."
        )
