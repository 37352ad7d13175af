"""What a checkpoint holds of the engine, and how the engine returns to it.

`EngineState` is the part of the engine (`scheduler.Engine`) that `runner.py` calls to
start the writers or restore a checkpoint before a run, and to save one during and after it
(see `checkpoint.py` for how the batches are stored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillroom.pipeline.checkpoint import Checkpointer
    from stillroom.pipeline.nodes import Node

STATE_VERSION = 1
"""The `version` a checkpoint's state is saved with (a resume needs the same)."""


class EngineState:
    """The engine's nodes and writers as a checkpoint sees them."""

    nodes: dict[str, Node]
    run_id: str
    meta: dict[str, Any]
    checkpointer: Checkpointer
    _next_id: int

    def restore(self, state: dict[str, Any], batches: list[tuple[str, int, bytes]]) -> None:
        """Put the engine back where a checkpoint left it."""
        self._next_id = state["next_id"]
        for name, node_state in state["nodes"].items():
            self.nodes[name].restore(node_state)
        pending = self.checkpointer.load(batches)
        for name, node in self.nodes.items():
            for pred in node.preds:
                node.slots[pred].extend(pending.get(f"{name}<{pred}", []))
            if node.writer is not None:
                node.writer.restore(state["writers"].get(name), pending.get(f"{name}>", []))

    def start_writers(self) -> None:
        for node in self.nodes.values():
            if node.writer is not None:
                node.writer.restore(None, [])

    def close_writers(self) -> None:
        for node in self.nodes.values():
            if node.writer is not None:
                node.writer.close()

    @property
    def completed(self) -> bool:
        return all(node.done for node in self.nodes.values())

    def state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "run_id": self.run_id,
            "meta": self.meta,
            "next_id": self._next_id,
            "nodes": {name: node.state() for name, node in self.nodes.items()},
            "writers": {
                name: node.writer.state()
                for name, node in self.nodes.items()
                if node.writer is not None
            },
        }

    def checkpoint(self, status: str = "running", force_flush: bool = False) -> bool:
        """Save a checkpoint (see `checkpoint.py`); False when it could not be written."""
        for node in self.nodes.values():
            if node.writer is not None:
                node.writer.flush(force=force_flush)
        return self.checkpointer.save(self.nodes.values(), self.state(), status)
