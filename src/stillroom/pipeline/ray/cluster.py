"""Connecting to a Ray cluster for one run, or starting a local one and stopping it after.

`address=None`: reuse the connection this process already has (`ray.init` called by the
user), else the cluster in `$RAY_ADDRESS` (set by `ray job submit`), else start a local Ray
instance on this machine, shut down when the run ends. `address="auto"` joins the cluster
started with `ray start` on this machine; `"host:port"` or `"ray://host:10001"` a remote one.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import Any

from stillroom.errors import MissingExtraError

logger = logging.getLogger("stillroom.pipeline")


def import_ray(feature: str = "Running a pipeline on Ray") -> ModuleType:
    """The `ray` module, or a `MissingExtraError` naming the `[ray]` extra."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError(feature, "ray", "ray") from exc
    return ray


class RayConnection:
    """`with RayConnection(address, ...):` is connected to Ray inside the block.

    Shuts Ray down on exit only when it started the connection itself, so a user's own
    `ray.init()` (or a test session's) outlives the run.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.init_kwargs = dict(init_kwargs or {})
        self.started = False

    def init_arguments(self) -> dict[str, Any]:
        """What `ray.init` receives when this connection has to be made."""
        arguments: dict[str, Any] = {"log_to_driver": True, **self.init_kwargs}
        if self.address is not None:
            arguments["address"] = self.address
        elif not os.environ.get("RAY_ADDRESS"):
            arguments["address"] = "local"
            arguments.setdefault("include_dashboard", False)
            if self.num_cpus is not None:
                arguments["num_cpus"] = self.num_cpus
        return arguments

    def __enter__(self) -> RayConnection:
        ray = import_ray()
        if ray.is_initialized():
            if self.address is not None:
                logger.info(
                    "Ray is already initialised in this process; using that connection "
                    "rather than address=%r.",
                    self.address,
                )
            return self
        ray.init(**self.init_arguments())
        self.started = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            import ray

            ray.shutdown()
            self.started = False
