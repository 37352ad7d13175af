"""How a mock LLM server behaves: latency, faults, authentication and replies.

One frozen dataclass holds every setting, so the Python constructor, the command line and
`POST /_config` all accept the same names (`latency`, `rate_429`, `fail_first`, ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from stillroom.errors import did_you_mean
from stillroom.testing.dialects import OPENAI_SERVERS
from stillroom.testing.replies import ReplyContext, check_template

API_KEY_ENV = "STILLROOM_MOCK_API_KEY"
"""Environment variable the command line reads the required API key from (kept out of argv)."""

FAULT_KINDS = ("hang", "crash")
"""Non-HTTP faults `fail_with` accepts besides an HTTP status code."""

Reply = Callable[[ReplyContext], Any] | str | None
"""A reply function, a `str.format` template, or None for the default echo reply."""


def _option(kind: type, help: str, **extra: Any) -> dict[str, Any]:
    """Field metadata: the command-line value type, its help text, extra argparse settings."""
    return {"kind": kind, "help": help, **extra}


@dataclass(frozen=True)
class MockServerConfig:
    """Every behaviour switch of `MockLLMServer`; all times are in seconds."""

    latency: float = field(
        default=0.0, metadata=_option(float, "fixed latency, or the mean with --latency-sigma")
    )
    latency_sigma: float = field(
        default=0.0,
        metadata=_option(float, "sigma of a lognormal latency whose mean is --latency (0: fixed)"),
    )
    seed: int = field(
        default=0, metadata=_option(int, "seed of every random draw (latency and faults)")
    )
    rate_429: float = field(
        default=0.0, metadata=_option(float, "fraction of requests answered 429")
    )
    rate_500: float = field(
        default=0.0, metadata=_option(float, "fraction of requests answered 500")
    )
    rate_hang: float = field(
        default=0.0, metadata=_option(float, "fraction of requests that never get a reply")
    )
    rate_crash: float = field(
        default=0.0, metadata=_option(float, "fraction of requests whose connection is dropped")
    )
    retry_after: float | None = field(
        default=None,
        metadata=_option(float, "Retry-After seconds sent with every 429 (default: no header)"),
    )
    fail_first: int = field(
        default=0,
        metadata=_option(int, "the first K attempts of each distinct prompt fail with --fail-with"),
    )
    fail_with: str = field(
        default="500",
        metadata=_option(
            str, "fault for --fail-first: an HTTP status (429, 500, 503...), hang or crash"
        ),
    )
    malformed_json_first: int = field(
        default=0,
        metadata=_option(int, "the first K structured replies of each prompt are not valid JSON"),
    )
    invalid_json_first: int = field(
        default=0,
        metadata=_option(int, "the next K structured replies of each prompt violate the schema"),
    )
    hang_seconds: float = field(
        default=30.0,
        metadata=_option(float, "how long a hung request holds its connection before it is closed"),
    )
    api_key: str | None = field(
        default=None,
        repr=False,
        metadata=_option(str, f"API key every LLM request must carry (or ${API_KEY_ENV})"),
    )
    reject_n: bool = field(
        default=False, metadata=_option(bool, "answer 400 to requests with n > 1")
    )
    models: tuple[str, ...] = field(
        default=("mock-model",),
        metadata=_option(str, "model ids listed by GET /v1/models", nargs="+"),
    )
    openai_server: str = field(
        default="openai",
        metadata=_option(
            str,
            "how /v1/chat/completions takes a structured output: openai, vllm, "
            "llama-cpp-python, llama-server, tgi, ollama or plain (none)",
        ),
    )
    reply: Reply = field(
        default=None,
        metadata=_option(
            str, "reply template with {prompt} {index} {model} {attempt} (default: echo)"
        ),
    )
    batch_delay: float = field(
        default=0.0,
        metadata=_option(float, "seconds a batch (OpenAI's or Anthropic's) runs before it ends"),
    )
    batch_fail_marker: str | None = field(
        default=None,
        metadata=_option(str, "batch entries whose prompt contains this text fail"),
    )
    idle_timeout: float = field(
        default=60.0, metadata=_option(float, "close a connection idle this long")
    )
    max_body_bytes: int = field(
        default=16 * 1024 * 1024, metadata=_option(int, "largest request body accepted")
    )

    def __post_init__(self) -> None:
        problems = []
        rates = {f.name: getattr(self, f.name) for f in fields(self) if f.name.startswith("rate_")}
        problems += [
            f"{name} must be between 0 and 1 (got {v})"
            for name, v in rates.items()
            if not 0 <= v <= 1
        ]
        if sum(rates.values()) > 1:
            problems.append(f"the rates add up to {sum(rates.values())}, more than 1")
        for name in (
            "latency",
            "latency_sigma",
            "hang_seconds",
            "fail_first",
            "malformed_json_first",
            "invalid_json_first",
            "batch_delay",
        ):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative (got {getattr(self, name)})")
        for name in ("idle_timeout", "max_body_bytes"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive (got {getattr(self, name)})")
        if self.latency_sigma > 0 and self.latency == 0:
            problems.append("a lognormal latency (latency_sigma > 0) needs a positive mean latency")
        if self.retry_after is not None and self.retry_after < 0:
            problems.append(f"retry_after must not be negative (got {self.retry_after})")
        if not (
            self.fail_with in FAULT_KINDS
            or (self.fail_with.isdigit() and 400 <= int(self.fail_with) <= 599)
        ):
            problems.append(
                f"fail_with must be an HTTP status 400-599, 'hang' or 'crash' (got {self.fail_with!r})"
            )
        if self.openai_server not in OPENAI_SERVERS:
            problems.append(
                f"openai_server must be one of {', '.join(OPENAI_SERVERS)} "
                f"(got {self.openai_server!r})"
            )
        if not self.models:
            problems.append("models must name at least one model")
        if isinstance(self.reply, str):
            try:
                check_template(self.reply)
            except ValueError as exc:
                problems.append(str(exc).rstrip("."))
        if problems:
            raise ValueError("Invalid mock server configuration: " + "; ".join(problems) + ".")

    @classmethod
    def from_options(cls, base: MockServerConfig | None = None, **options: Any) -> MockServerConfig:
        """`base` (or the defaults) with `options` replaced, naming any unknown option clearly."""
        names = [f.name for f in fields(cls)]
        unknown = [name for name in options if name not in names]
        if unknown:
            raise TypeError(
                f"Unknown mock server option {unknown[0]!r}.{did_you_mean(unknown[0], names)} "
                f"Options: {', '.join(names)}."
            )
        if "models" in options:
            options["models"] = tuple(options["models"])
        if "fail_with" in options:
            options["fail_with"] = str(options["fail_with"])
        return dataclasses.replace(base or cls(), **options)

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values; the API key and a reply function are masked."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["api_key"] = "***" if self.api_key else None
        out["models"] = list(self.models)
        if callable(self.reply):
            out["reply"] = f"<function {getattr(self.reply, '__name__', 'reply')}>"
        return out


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one `--flag` per `MockServerConfig` field (`rate_429` becomes `--rate-429`)."""
    for f in fields(MockServerConfig):
        flag = "--" + f.name.replace("_", "-")
        settings = dict(f.metadata)
        kind = settings.pop("kind")
        if kind is bool:
            parser.add_argument(flag, action="store_true", **settings)
        else:
            parser.add_argument(flag, type=kind, default=None, **settings)


def config_from_arguments(
    args: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> MockServerConfig:
    """The configuration a parsed command line asks for (unset flags keep their defaults)."""
    options = {}
    for f in fields(MockServerConfig):
        value = getattr(args, f.name)
        if value is not None and value is not False:
            options[f.name] = value
    if "api_key" not in options and environ.get(API_KEY_ENV):
        options["api_key"] = environ[API_KEY_ENV]
    return MockServerConfig.from_options(**options)


def config_to_arguments(config: MockServerConfig) -> list[str]:
    """Command-line flags that rebuild `config` (without the API key, which goes by environment).

    Raises `ValueError` for a reply function, which cannot cross a process boundary.
    """
    if callable(config.reply):
        raise ValueError(
            "A reply function cannot be sent to a server subprocess; use a reply template "
            "string such as 'answer to {prompt}' or run the server in-process."
        )
    default = MockServerConfig()
    argv: list[str] = []
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name == "api_key" or value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag)
        elif isinstance(value, Sequence) and not isinstance(value, str):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv
