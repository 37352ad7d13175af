"""`CudaDevicePlacementMixin`: give each in-process model (each replica) its own GPUs.

Every model loaded on a machine notes the GPUs it took in one JSON file per host (under the
temporary directory), read and written under a file lock, so replicas loading at the same
time in different processes pick different devices. `cuda_devices="auto"` takes the first
free devices; a list is used as given, with a warning when another model holds one of them.
The chosen devices are written to `CUDA_VISIBLE_DEVICES`, which is what CUDA reads when a
process first uses it: the placement decides where a model runs only in a process that has
not touched CUDA yet (a replica's own process, vLLM's workers). The devices to choose from
are those `CUDA_VISIBLE_DEVICES` already lists, else every device the machine has.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, Field, NonNegativeInt, PositiveInt, PrivateAttr

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter

logger = logging.getLogger("stillroom.llms")

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"

PLACEMENT_FILE = (
    Path(tempfile.gettempdir())
    / "stillroom"
    / "cuda_device_placement"
    / socket.gethostname()
    / "placement.json"
)
"""Which model holds which GPUs on this host: {identifier: [device, ...]}."""


def visible_devices(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[int] | None:
    """The devices `CUDA_VISIBLE_DEVICES` lists (None when it is unset; [] when empty)."""
    value = environ.get(CUDA_VISIBLE_DEVICES)
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise StillroomError(
            f"{CUDA_VISIBLE_DEVICES}={value!r} is not a comma-separated list of GPU numbers; "
            "CUDA device placement needs numbers (not GPU UUIDs): fix the variable or set "
            "disable_cuda_device_placement=True."
        ) from None


def cuda_device_count() -> int:
    """GPUs this machine has: through NVML if pynvml is installed, else torch, else 0."""
    try:
        import pynvml  # type: ignore[import-not-found, unused-ignore]

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:  # pynvml missing, or no NVIDIA driver: ask torch
        pass
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count())


def free_devices(available: list[int], taken: dict[str, list[int]], wanted: int) -> list[int]:
    """The first `wanted` devices of `available` that no entry of `taken` holds (fewer when
    fewer are free)."""
    held = {device for devices in taken.values() for device in devices}
    return [device for device in available if device not in held][:wanted]


@contextmanager
def locked_placements(path: Path = PLACEMENT_FILE) -> Iterator[dict[str, list[int]]]:
    """The placement file's content, under an exclusive lock; written back on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        _lock(handle)
        handle.seek(0)
        text = handle.read()
        try:
            content: dict[str, list[int]] = json.loads(text) if text.strip() else {}
        except ValueError:
            logger.warning("CUDA placement file %s is damaged; starting it afresh.", path)
            content = {}
        yield content
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(content))
        handle.flush()


def _lock(handle: IO[str]) -> None:
    """An exclusive lock on an open file, released when the file is closed."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


class CudaDevicePlacementMixin(BaseModel):
    """Chooses the GPUs of an in-process model when it loads and frees them when it unloads.

    `_llm_identifier` names the model in the placement file (the step and replica when a
    pipeline sets it, else one per object and process); `_desired_num_gpus` is how many
    devices `"auto"` takes.
    """

    cuda_devices: RuntimeParameter[list[NonNegativeInt] | Literal["auto"]] = Field(
        default="auto",
        description='GPUs to use: "auto" takes free ones, or a list of device numbers.',
    )
    disable_cuda_device_placement: RuntimeParameter[bool] = Field(
        default=False, description="Leave CUDA_VISIBLE_DEVICES as it is."
    )

    _llm_identifier: str | None = PrivateAttr(default=None)
    _desired_num_gpus: PositiveInt = PrivateAttr(default=1)
    _placement_file: Path = PrivateAttr(default=PLACEMENT_FILE)

    @property
    def placement_identifier(self) -> str:
        return self._llm_identifier or f"{type(self).__name__}-{os.getpid()}-{id(self):x}"

    def place_on_cuda_devices(self) -> list[int]:
        """Choose this model's GPUs, note them in the placement file and set
        `CUDA_VISIBLE_DEVICES` to them; the devices chosen ([] when none could be)."""
        if self.disable_cuda_device_placement:
            return []
        visible = visible_devices()
        available = visible if visible is not None else list(range(cuda_device_count()))
        name = self.placement_identifier
        with locked_placements(self._placement_file) as taken:
            taken.pop(name, None)
            if self.cuda_devices == "auto":
                devices = free_devices(available, taken, self._desired_num_gpus)
                if len(devices) < self._desired_num_gpus:
                    logger.warning(
                        "%s: %d GPU(s) wanted, %d free among %s.",
                        name,
                        self._desired_num_gpus,
                        len(devices),
                        available,
                    )
            else:
                devices = list(self.cuda_devices)
                self._check_devices(devices, available, taken)
            if devices:
                taken[name] = devices
        if devices:
            os.environ[CUDA_VISIBLE_DEVICES] = ",".join(str(d) for d in devices)
            logger.info("%s uses the CUDA devices %s.", name, devices)
        return devices

    def _check_devices(
        self, devices: list[int], available: list[int], taken: dict[str, list[int]]
    ) -> None:
        unknown = [d for d in devices if d not in available]
        if unknown:
            raise StillroomError(
                f"{self.placement_identifier}: cuda_devices={devices} names {unknown}, which "
                f"this machine does not offer (available: {available}, from "
                f"{CUDA_VISIBLE_DEVICES} or the device count). Use available devices or "
                '"auto".'
            )
        for other, held in taken.items():
            shared = sorted(set(held) & set(devices))
            if shared:
                logger.warning(
                    "%s shares the CUDA device(s) %s with %s: they may run out of memory.",
                    self.placement_identifier,
                    shared,
                    other,
                )

    def release_cuda_devices(self) -> None:
        """Remove this model from the placement file (its GPUs are free again)."""
        if self.disable_cuda_device_placement:
            return
        with locked_placements(self._placement_file) as taken:
            taken.pop(self.placement_identifier, None)
