"""A stand-in for an Argilla 2.x server's HTTP API, for respx: the few endpoints the SDK uses
to find or create a dataset and log records, keeping what it receives so tests can check it.
`fail_next` makes the next requests answer the given statuses (503, 401, ...)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx

API_KEY = "argilla.apikey-not-real-123"


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat()


class FakeArgilla:
    def __init__(self) -> None:
        self.workspace = {
            "id": str(uuid.uuid4()),
            "name": "default",
            "inserted_at": _stamp(),
            "updated_at": _stamp(),
        }
        self.datasets: dict[str, dict[str, Any]] = {}
        self.fields: dict[str, list[dict[str, Any]]] = {}
        self.questions: dict[str, list[dict[str, Any]]] = {}
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.fail_next: list[int] = []
        self.seen: list[tuple[str, str]] = []

    # --- state helpers for tests ---------------------------------------------------------------

    def dataset_named(self, name: str) -> dict[str, Any]:
        return next(d for d in self.datasets.values() if d["name"] == name)

    def add_dataset(self, name: str, fields: list[dict[str, Any]]) -> None:
        dataset_id = str(uuid.uuid4())
        self.datasets[dataset_id] = self._dataset(dataset_id, name, "ready")
        self.fields[dataset_id] = [self._resource(f, dataset_id) for f in fields]
        self.questions[dataset_id] = []
        self.records[dataset_id] = []

    # --- the API -------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        if self.fail_next:
            return httpx.Response(self.fail_next.pop(0), json={"detail": "injected"})
        if request.headers.get("X-Argilla-Api-Key") != API_KEY:
            return httpx.Response(401, json={"detail": "Could not validate credentials"})
        method, parts = request.method, request.url.path.strip("/").split("/")[2:]
        body = json.loads(request.content) if request.content else None
        match method, parts:
            case "GET", ["me"]:
                user = {"id": str(uuid.uuid4()), "username": "owner", "role": "owner"}
                return httpx.Response(200, json=user)
            case "GET", ["me", "workspaces"]:
                return httpx.Response(200, json={"items": [self.workspace]})
            case "GET", ["workspaces", workspace_id] if workspace_id == self.workspace["id"]:
                return httpx.Response(200, json=self.workspace)
            case "GET", ["me", "datasets"]:
                return httpx.Response(200, json={"items": list(self.datasets.values())})
            case "GET", ["datasets", dataset_id] if dataset_id in self.datasets:
                return httpx.Response(200, json=self.datasets[dataset_id])
            case "POST", ["datasets"]:
                dataset_id = str(uuid.uuid4())
                self.datasets[dataset_id] = self._dataset(dataset_id, body["name"], "draft")
                self.fields[dataset_id], self.questions[dataset_id] = [], []
                self.records[dataset_id] = []
                return httpx.Response(201, json=self.datasets[dataset_id])
            case "PATCH", ["datasets", dataset_id] if dataset_id in self.datasets:
                self.datasets[dataset_id].update(body)
                return httpx.Response(200, json=self.datasets[dataset_id])
            case "DELETE", ["datasets", dataset_id] if dataset_id in self.datasets:
                del self.datasets[dataset_id]
                return httpx.Response(200, json={})
            case "GET", ["datasets", dataset_id, ("fields" | "questions") as kind]:
                items = getattr(self, kind)[dataset_id]
                return httpx.Response(200, json={"items": items})
            case "POST", ["datasets", dataset_id, ("fields" | "questions") as kind]:
                created = self._resource(body, dataset_id)
                getattr(self, kind)[dataset_id].append(created)
                return httpx.Response(201, json=created)
            case "GET", ["datasets", _, "vectors-settings"] | [
                "me",
                "datasets",
                _,
                "metadata-properties",
            ]:
                return httpx.Response(200, json={"items": []})
            case "PUT", ["datasets", dataset_id, "publish"]:
                self.datasets[dataset_id]["status"] = "ready"
                return httpx.Response(200, json=self.datasets[dataset_id])
            case (("POST" | "PUT"), ["datasets", dataset_id, "records", "bulk"]):
                items = [self._resource(item, dataset_id) for item in body["items"]]
                self.records[dataset_id] += items
                return httpx.Response(200, json={"items": items})
        return httpx.Response(404, json={"detail": f"fake has no {method} {request.url.path}"})

    def _dataset(self, dataset_id: str, name: str, status: str) -> dict[str, Any]:
        return {
            "id": dataset_id,
            "name": name,
            "status": status,
            "workspace_id": self.workspace["id"],
            "allow_extra_metadata": False,
            "distribution": {"strategy": "overlap", "min_submitted": 1},
            "inserted_at": _stamp(),
            "updated_at": _stamp(),
        }

    @staticmethod
    def _resource(body: dict[str, Any], dataset_id: str) -> dict[str, Any]:
        return {
            **body,
            "id": body.get("id") or str(uuid.uuid4()),
            "dataset_id": dataset_id,
            "inserted_at": _stamp(),
            "updated_at": _stamp(),
        }
