"""Seeded random draws that depend only on the request, never on arrival order.

Each draw hashes (seed, purpose, prompt, attempt), so the n-th attempt of a prompt gets the
same latency and the same fault in every run, however many requests run concurrently and in
whatever order they arrive. Different prompts and attempts get independent-looking values.
"""

from __future__ import annotations

import hashlib
import math
from statistics import NormalDist

from stillroom.testing.config import MockServerConfig

_STANDARD_NORMAL = NormalDist()


def unit(seed: int, purpose: str, key: str, attempt: int) -> float:
    """A value in the open interval (0, 1), fixed for these arguments."""
    digest = hashlib.blake2b(
        f"{seed}\x1f{purpose}\x1f{attempt}\x1f{key}".encode(), digest_size=8
    ).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def latency(config: MockServerConfig, key: str, attempt: int) -> float:
    """Seconds the server waits before answering this attempt.

    Fixed when `latency_sigma` is 0; otherwise lognormal with mean `latency`, i.e. the log of
    the latency is normal with standard deviation `latency_sigma`.
    """
    if config.latency_sigma == 0 or config.latency == 0:
        return config.latency
    sigma = config.latency_sigma
    mu = math.log(config.latency) - sigma * sigma / 2
    z = _STANDARD_NORMAL.inv_cdf(unit(config.seed, "latency", key, attempt))
    return math.exp(mu + sigma * z)


def fault(config: MockServerConfig, key: str, attempt: int) -> str | None:
    """The fault scripted for this attempt: `fail_with` for the first `fail_first` attempts
    of a prompt, else what the error rates draw (`random_fault`)."""
    if attempt <= config.fail_first:
        return config.fail_with
    return random_fault(config, key, attempt)


def random_fault(config: MockServerConfig, key: str, attempt: int) -> str | None:
    """The fault the error rates pick for this attempt ("429", "500", "hang", "crash") or None."""
    rates = (
        ("429", config.rate_429),
        ("500", config.rate_500),
        ("hang", config.rate_hang),
        ("crash", config.rate_crash),
    )
    if not any(rate for _, rate in rates):
        return None
    u = unit(config.seed, "fault", key, attempt)
    for fault, rate in rates:
        if u < rate:
            return fault
        u -= rate
    return None
