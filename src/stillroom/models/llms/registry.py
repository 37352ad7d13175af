"""The LLM backends stillroom knows: spec prefix -> class, for built-ins and plugins alike.

A backend is an entry point of the group `stillroom.llms`: its name is the prefix a spec uses
(`ollama` in "ollama:llama3.1"), its value the class (`package.module:ClassName`); one class
may serve several prefixes. A third-party package declares its own in its pyproject.toml and
needs no change to stillroom (see docs/llms/plugins.md). How a spec becomes constructor
arguments is the class's business (`spec.spec_fields`).

The built-ins are declared the same way in stillroom's pyproject.toml and also listed here in
`BUILTINS`, which is what resolves them: installed metadata can be stale (an editable install
made before a backend was added) and must not decide what stillroom itself ships; a test keeps
both lists equal. Nothing is imported until its prefix or class name is asked for, and the
installed entry points (metadata only) are read only for a name that is not a built-in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from stillroom.errors import StillroomError, did_you_mean
from stillroom.models.llms.base import LLM

logger = logging.getLogger("stillroom.llms")

GROUP = "stillroom.llms"
"""The entry-point group backends are declared in."""

DISTRIBUTION = "stillroom"
"""This package's distribution: its entry points are `BUILTINS` (read from here instead)."""

_OPENAI = "stillroom.models.llms.openai:OpenAILLM"

BUILTINS: dict[str, str] = {
    "local": "stillroom.models.llms.llamacpp:LlamaCppLLM",
    "openai": _OPENAI,
    "vllm": _OPENAI,
    "ollama": _OPENAI,
    "llama-server": _OPENAI,
    "tgi": _OPENAI,
    "lmstudio": _OPENAI,
    "anthropic": "stillroom.models.llms.anthropic:AnthropicLLM",
    "azure": "stillroom.models.llms.azure:AzureOpenAILLM",
    "together": "stillroom.models.llms.together:TogetherLLM",
    "anyscale": "stillroom.models.llms.anyscale:AnyscaleLLM",
    "groq": "stillroom.models.llms.groq:GroqLLM",
    "mistral": "stillroom.models.llms.mistral:MistralLLM",
    "vllm-client": "stillroom.models.llms.vllm:ClientvLLM",
    "litellm": "stillroom.models.llms.litellm:LiteLLM",
    "mock": "stillroom.models.llms.mock:AsyncMockLLM",
    "hf": "stillroom.models.llms.huggingface.inference_endpoints:InferenceEndpointsLLM",
    "hf-endpoint": "stillroom.models.llms.huggingface.inference_endpoints:InferenceEndpointsLLM",
    "ollama-native": "stillroom.models.llms.ollama:OllamaLLM",
    "cohere": "stillroom.models.llms.cohere:CohereLLM",
    "vertexai": "stillroom.models.llms.vertexai:VertexAILLM",
    "transformers": "stillroom.models.llms.huggingface.transformers:TransformersLLM",
    "vllm-local": "stillroom.models.llms.vllm:vLLM",
    "mlx": "stillroom.models.llms.mlx:MlxLLM",
}
"""Prefix -> class of the backends stillroom ships (also in pyproject.toml)."""


class BackendPluginError(StillroomError):
    """An installed backend cannot be used: it does not import, or is no LLM class, or its
    prefix or class name is claimed twice."""


@dataclass(frozen=True)
class Backend:
    """One prefix of one backend, not imported yet."""

    entry_point: EntryPoint
    distribution: str
    """Who declares it: "stillroom" or the plugin's "name version"."""

    @property
    def prefix(self) -> str:
        return self.entry_point.name

    @property
    def class_name(self) -> str:
        return self.entry_point.attr.rpartition(".")[2]

    def describe(self) -> str:
        return f"entry point {self.prefix} = {self.entry_point.value!r} of {self.distribution}"

    def load(self) -> type[LLM]:
        """The class, imported now; a clear `BackendPluginError` if that fails."""
        try:
            loaded = self.entry_point.load()
        except Exception as exc:  # a plugin may raise anything while importing
            raise BackendPluginError(
                f"The LLM backend {self.prefix!r} ({self.describe()}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}. Reinstall or upgrade {self.distribution}, or "
                "uninstall it if it is not needed."
            ) from exc
        if not (isinstance(loaded, type) and issubclass(loaded, LLM)):
            raise BackendPluginError(
                f"The LLM backend {self.prefix!r} ({self.describe()}) is {loaded!r}, not a "
                "subclass of stillroom's LLM; the entry point must name the backend class."
            )
        return loaded


def builtins() -> list[Backend]:
    """The backends stillroom ships, read from `BUILTINS` (no metadata, no import)."""
    return [
        Backend(EntryPoint(prefix, target, GROUP), DISTRIBUTION)
        for prefix, target in BUILTINS.items()
    ]


def plugins() -> list[Backend]:
    """The backends other installed distributions declare (reads metadata, imports nothing).

    An entry point claiming a built-in prefix is left out with a warning: the built-in wins.
    The same declaration seen twice (a distribution on the path twice) counts once.
    """
    found: dict[tuple[str, str], Backend] = {}
    for entry_point in entry_points(group=GROUP):
        dist = entry_point.dist
        name = dist.name if dist is not None else "an unknown distribution"
        if name == DISTRIBUTION:
            continue
        backend = Backend(entry_point, f"{name} {dist.version}" if dist is not None else name)
        if entry_point.name in BUILTINS:
            logger.warning(
                "Ignoring the LLM backend %s: %r is a built-in prefix of stillroom. Ask its "
                "authors to use another prefix.",
                backend.describe(),
                entry_point.name,
            )
            continue
        found.setdefault((entry_point.name, entry_point.value), backend)
    return list(found.values())


def _one(matches: list[Backend], what: str) -> Backend | None:
    """The backend `matches` agree on (None if empty); an error if they name different classes."""
    if len({backend.entry_point.value for backend in matches}) > 1:
        claims = "; ".join(backend.describe() for backend in matches)
        raise BackendPluginError(
            f"{what} is claimed by several installed LLM backends ({claims}). Uninstall all "
            "but one of them."
        )
    return matches[0] if matches else None


def for_prefix(prefix: str) -> Backend | None:
    """The backend of spec prefix `prefix` (lower case), or None if no backend has it."""
    for backend in builtins():
        if backend.prefix == prefix:
            return backend
    return _one([b for b in plugins() if b.prefix == prefix], f"The prefix {prefix!r}")


def for_class(name: str) -> Backend | None:
    """A backend whose class is called `name`, or None if no backend's is."""
    for backend in builtins():
        if backend.class_name == name:
            return backend
    return _one([b for b in plugins() if b.class_name == name], f"The class name {name!r}")


def backends() -> list[Backend]:
    """Every known backend, the built-ins first (reads the installed metadata)."""
    return [*builtins(), *plugins()]


def prefixes() -> list[str]:
    """Every known prefix, the built-ins first (reads the installed metadata)."""
    return list(dict.fromkeys(backend.prefix for backend in backends()))


def class_attribute(module: str, name: str) -> type[LLM]:
    """The backend class `name`, imported now, for a module's `__getattr__` (`module` names it
    in the AttributeError raised when no backend has that class name)."""
    private = name.startswith("_")  # never a backend: answered without reading any metadata
    backend = None if private else for_class(name)
    if backend is None:
        hint = "" if private else did_you_mean(name, {b.class_name for b in backends()})
        raise AttributeError(f"module {module!r} has no attribute {name!r}.{hint}")
    return backend.load()
