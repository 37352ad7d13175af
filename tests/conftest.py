"""Shared test setup: no test may reach the internet, and no real API key leaks in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "HF_TOKEN",
        "STILLROOM_LLM",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_AD_TOKEN",
        "AZURE_OPENAI_ENDPOINT",
        "OPENAI_API_VERSION",
        "TOGETHER_API_KEY",
        "ANYSCALE_API_KEY",
        "GROQ_API_KEY",
        "MISTRAL_API_KEY",
        "VLLM_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipelines run by any test cache under a temporary directory, never ~/.cache/stillroom."""
    monkeypatch.setenv("STILLROOM_CACHE_DIR", str(tmp_path_factory.mktemp("stillroom-cache")))


_EXTRA_MARKERS = (
    *("local_model", "ray", "hf_transformers", "litellm", "transformers"),
    *("sentence_transformers", "mlx"),
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With STILLROOM_REQUIRE_EXTRAS=1 (set by `make test`, which installs every extra), a
    skipped local-model or Ray test fails: CI must not pass by silently skipping them."""
    outcome = yield
    report = outcome.get_result()
    required = os.environ.get("STILLROOM_REQUIRE_EXTRAS") == "1"
    if required and report.skipped and any(item.get_closest_marker(m) for m in _EXTRA_MARKERS):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} was skipped, but STILLROOM_REQUIRE_EXTRAS=1: {report.longrepr}"
        )


class _Calls:
    """Pickles as a call of `function(*args)`: what a hostile pickle's REDUCE runs on load."""

    def __init__(self, function: object, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.function, self.args


class HostilePickles:
    """Pickles that create `marker` when unpickled by `pickle.loads`, in the forms an attacker
    with write access to a run's state could use."""

    def __init__(self, marker: Path) -> None:
        import builtins
        import functools
        import pickle

        self.marker = marker
        code = f"open({str(marker)!r}, 'w').write('ran')"
        self.payloads = {
            "os.system": pickle.dumps(_Calls(os.system, f"touch '{marker}'")),
            "builtins.exec": pickle.dumps(_Calls(builtins.exec, code)),
            "functools.partial": pickle.dumps(_Calls(functools.partial(builtins.exec, code))),
            "protocol 0 GLOBAL": f"cbuiltins\neval\n(V{code}\ntR.".encode(),
            "inside a checkpoint's state": pickle.dumps(
                {"version": 1, "run_id": "r", "nodes": _Calls(builtins.exec, code)}, protocol=5
            ),
        }


@pytest.fixture
def hostile_pickles(tmp_path: Path) -> HostilePickles:
    return HostilePickles(tmp_path / "code-ran")
