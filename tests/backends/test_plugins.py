"""Backends as plugins: entry points of the group `stillroom.llms`, found by prefix and class.

Each test installs throwaway distributions (a `*.dist-info` folder with an `entry_points.txt`,
and the module it names) on `sys.path`, so nothing depends on what is installed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

import stillroom.llms
import stillroom.models
from stillroom.errors import StillroomError
from stillroom.models import AnthropicLLM, AsyncMockLLM, LlamaCppLLM, OpenAILLM, llm_from_spec
from stillroom.models.llms import registry
from stillroom.models.llms.registry import BackendPluginError

ECHO_MODULE = """
from typing import Any

from stillroom.models import AsyncLLM


class EchoLLM(AsyncLLM):
    model: str
    shout: bool = False

    @property
    def model_name(self) -> str:
        return self.model

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:
        text = input[-1]["content"].upper() if self.shout else input[-1]["content"]
        return {"generations": [text] * num_generations, "statistics": {}}


not_a_class = "EchoLLM"
"""


class Installer:
    """Writes fake distributions into one folder put first on `sys.path`."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(root))

    def distribution(self, name: str, version: str, entry_points: dict[str, str]) -> None:
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = [f"{prefix} = {target}" for prefix, target in entry_points.items()]
        (info / "entry_points.txt").write_text("[stillroom.llms]\n" + "\n".join(lines) + "\n")

    def module(self, name: str, source: str) -> None:
        (self.root / f"{name}.py").write_text(textwrap.dedent(source))
        self.modules.append(name)


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installer]:
    installer = Installer(tmp_path, monkeypatch)
    yield installer
    for name in installer.modules:  # the next test's fake module of that name is another one
        sys.modules.pop(name, None)


@pytest.fixture
def echo(install: Installer) -> Installer:
    """`echo-backend 1.0`, whose EchoLLM serves the prefixes `echo` and `echo-loud`."""
    install.module("fake_echo", ECHO_MODULE)
    install.distribution(
        "echo-backend", "1.0", {"echo": "fake_echo:EchoLLM", "echo-loud": "fake_echo:EchoLLM"}
    )
    return install


def test_a_plugin_is_listed_without_being_imported(echo: Installer):
    assert {"echo", "echo-loud"} <= set(registry.prefixes())
    assert registry.for_prefix("echo").distribution == "echo-backend 1.0"
    assert registry.for_class("EchoLLM").prefix in ("echo", "echo-loud")
    assert "fake_echo" not in sys.modules


def test_a_plugin_backend_is_found_by_spec_prefix(echo: Installer):
    llm = llm_from_spec("echo:parrot", shout=True)
    assert type(llm).__name__ == "EchoLLM" and type(llm).__module__ == "fake_echo"
    assert llm.model == "parrot"
    reply = asyncio.run(llm.agenerate([{"role": "user", "content": "hi"}]))
    assert reply["generations"] == ["HI"]


def test_a_plugin_backend_is_found_by_class_name(echo: Installer):
    from stillroom.models import EchoLLM  # type: ignore[attr-defined]

    assert EchoLLM.__module__ == "fake_echo"
    assert stillroom.llms.EchoLLM is EchoLLM  # type: ignore[attr-defined]
    assert stillroom.models.llms.EchoLLM is EchoLLM  # type: ignore[attr-defined]
    assert type(llm_from_spec("echo-loud:m")) is EchoLLM


def test_a_plugin_that_does_not_import_names_its_distribution(install: Installer):
    install.distribution("broken-backend", "0.1", {"broken": "fake_missing:BrokenLLM"})
    with pytest.raises(BackendPluginError) as caught:
        llm_from_spec("broken:m")
    message = str(caught.value)
    assert "entry point broken = 'fake_missing:BrokenLLM' of broken-backend 0.1" in message
    assert "No module named 'fake_missing'" in message
    assert "Reinstall or upgrade broken-backend 0.1" in message
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_an_entry_point_naming_no_llm_class_is_a_clear_error(echo: Installer):
    echo.distribution("odd-backend", "2.0", {"odd": "fake_echo:not_a_class"})
    with pytest.raises(BackendPluginError, match=r"of odd-backend 2\.0.*not a subclass"):
        llm_from_spec("odd:m")


def test_an_unknown_prefix_lists_the_known_ones_with_the_plugins(echo: Installer):
    with pytest.raises(StillroomError) as caught:
        llm_from_spec("ecko:m")
    message = str(caught.value)
    assert "Did you mean 'echo'?" in message
    assert "Known: local, openai, vllm, ollama" in message and "echo-loud" in message
    assert "'stillroom.llms'" in message


def test_an_unknown_class_name_is_an_attribute_error_with_a_suggestion(echo: Installer):
    with pytest.raises(AttributeError, match=r"'stillroom\.models\.llms'.*Did you mean 'EchoLLM'"):
        stillroom.models.EhcoLLM  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(stillroom.models, "_private")


def test_two_distributions_claiming_one_prefix_are_named_both(echo: Installer):
    echo.module("fake_rival", ECHO_MODULE.replace("EchoLLM", "RivalLLM"))
    echo.distribution("rival-backend", "3.0", {"echo": "fake_rival:RivalLLM"})
    with pytest.raises(BackendPluginError) as caught:
        llm_from_spec("echo:m")
    assert "echo-backend 1.0" in str(caught.value) and "rival-backend 3.0" in str(caught.value)
    assert "Uninstall all but one" in str(caught.value)


def test_a_plugin_claiming_a_builtin_prefix_is_ignored_with_a_warning(
    echo: Installer, caplog: pytest.LogCaptureFixture
):
    echo.distribution("squatter", "0.0", {"openai": "fake_echo:EchoLLM"})
    with caplog.at_level(logging.WARNING, logger="stillroom.llms"):
        assert "openai" in registry.prefixes()
    assert type(llm_from_spec("openai:gpt-4o-mini")) is OpenAILLM
    assert "squatter 0.0" in caplog.text and "built-in prefix" in caplog.text


def test_builtins_resolve_even_with_stale_installed_metadata(install: Installer):
    install.distribution("stillroom", "0.0.1", {"openai": "stillroom.gone:OldLLM"})
    assert registry.plugins() == []
    assert type(llm_from_spec("vllm:m")) is OpenAILLM


@pytest.mark.parametrize(
    ("prefix", "cls"),
    [
        ("local", LlamaCppLLM),
        ("openai", OpenAILLM),
        ("lmstudio", OpenAILLM),
        ("anthropic", AnthropicLLM),
        ("mock", AsyncMockLLM),
    ],
)
def test_builtin_prefixes_load_their_class(prefix: str, cls: type):
    backend = registry.for_prefix(prefix)
    assert backend is not None and backend.distribution == "stillroom"
    assert backend.load() is cls
    assert registry.for_class(cls.__name__) is not None


def test_pyproject_declares_exactly_the_builtins():
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    # read as text (tomllib needs Python 3.11): the section's `name = "value"` lines
    section = pyproject.read_text().split(f'[project.entry-points."{registry.GROUP}"]\n')[1]
    lines = section.split("\n[")[0].strip().splitlines()
    declared = dict(line.replace('"', "").split(" = ") for line in lines)
    assert declared == registry.BUILTINS


def test_an_openai_compatible_plugin_prefix_needs_a_server_url(install: Installer):
    install.distribution("my-server", "1.0", {"myserver": "stillroom.models.llms.openai:OpenAILLM"})
    with pytest.raises(StillroomError, match="names no server; write myserver:MODEL@http"):
        llm_from_spec("myserver:m")
    llm = llm_from_spec("myserver:m@http://box:9000/v1")
    assert (llm.base_url, llm.api_key_env) == ("http://box:9000/v1", None)


def test_the_plugin_of_the_docs_works_as_shown(install: Installer, monkeypatch: pytest.MonkeyPatch):
    page = (Path(__file__).resolve().parents[2] / "docs" / "llms" / "plugins.md").read_text()
    toml = re.findall(r"```toml\n(.*?)```", page, flags=re.S)[0]
    module, usage = re.findall(r"```python\n(.*?)```", page, flags=re.S)[:2]
    declared = toml.split(f'[project.entry-points."{registry.GROUP}"]\n')[1].strip()
    prefix, target = declared.replace('"', "").split(" = ")
    install.module(target.partition(":")[0], module)
    install.distribution("acme-stillroom", "1.0.0", {prefix: target})
    monkeypatch.setenv("ACME_API_KEY", "acme-key")
    monkeypatch.setenv("STILLROOM_HTTP_TRANSPORT", "httpx")  # respx intercepts httpx only

    namespace: dict[str, object] = {}
    exec(usage, namespace)
    llm = namespace["llm"]
    from stillroom.models import AcmeLLM  # type: ignore[attr-defined]

    assert type(llm) is AcmeLLM and (llm.model, llm.base_url) == (
        "acme-large",
        "http://localhost:9000",
    )
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post("http://localhost:9000/chat").mock(
            return_value=httpx.Response(200, json={"text": "hello"})
        )
        llm.load()
        try:
            outputs = llm.generate([[{"role": "user", "content": "hi"}]], temperature=0.5)
        finally:
            llm.unload()
    assert outputs[0]["generations"] == ["hello"]
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer acme-key"
    assert b'"temperature":0.5' in request.content
