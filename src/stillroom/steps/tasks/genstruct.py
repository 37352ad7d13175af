"""`Genstruct`: instruction/answer pairs grounded in a document (NousResearch's Genstruct 7B)."""

from __future__ import annotations

import re
from typing import Any

from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.lenient_output import NoneOnUnreadableReply
from stillroom.steps.typing import StepColumns
from stillroom.typing import FormattedInput

_ASSISTANT = re.compile(r"(.+?)\[\[\[Assistant\]\]\](.+)$", re.DOTALL)


class Genstruct(NoneOnUnreadableReply, Task):
    """Write a user question and its answer about a row's `title` and `content`.

    Meant for Genstruct 7B, which was trained on the `[[[Title]]]`/`[[[Content]]]`/
    `[[[User]]]`/`[[[Assistant]]]` layout: the model writes the user turn, then
    `[[[Assistant]]]` and the answer. A reply without `[[[Assistant]]]` is malformed.

    Columns: inputs = `title`, `content`; outputs = `user`, `assistant`, `model_name`.
    """

    @property
    def inputs(self) -> StepColumns:
        return ["title", "content"]

    @property
    def outputs(self) -> StepColumns:
        return ["user", "assistant", "model_name"]

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        prompt = prompts.render("genstruct", title=input["title"], content=input["content"])
        # the model card's prompt ends with a space after [[[User]]] (rendering trims it)
        return [{"role": "user", "content": prompt + " "}]

    def _read_reply(self, text: str, row: dict[str, Any] | None) -> dict[str, Any]:
        match = _ASSISTANT.search(text)
        if match is None:
            raise ValueError("the reply has no '[[[Assistant]]]' turn")
        return {"user": match.group(1).strip(), "assistant": match.group(2).strip()}
