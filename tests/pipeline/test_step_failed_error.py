"""`StepFailedError`'s message: one full stop after the wrapped error, whatever it ends with."""

from __future__ import annotations

import pytest

from stillroom.pipeline.errors import StepFailedError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server down", "RuntimeError: server down. Everything"),
        ("server down.", "RuntimeError: server down. Everything"),
        ("is it down?", "RuntimeError: is it down? Everything"),
        ("", "RuntimeError: . Everything"),
    ],
)
def test_message_ends_the_error_with_one_full_stop(text: str, expected: str) -> None:
    message = str(StepFailedError("generate_0", 3, RuntimeError(text)))
    assert message.startswith("Step 'generate_0' failed on batch 3: ")
    assert expected in message
    assert ".." not in message


def test_message_without_a_batch_and_the_error_kept() -> None:
    error = ValueError("bad row.")
    exc = StepFailedError("load_0", None, error)
    assert str(exc).startswith("Step 'load_0' failed: ValueError: bad row. Everything")
    assert exc.error is error and exc.step_name == "load_0"
