"""The Hugging Face Hub around an `InferenceEndpointsLLM`: the token, and the URL of a
dedicated Inference Endpoint.

The endpoint is looked up once, when the LLM loads, with plain HTTP calls to the Inference
Endpoints API (what `huggingface_hub.get_inference_endpoint` calls): its status and URL, the
user's name when no namespace is given, and a resume when it is paused. The wait for it to
run is bounded (`ENDPOINT_WAIT_SECONDS`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from stillroom.errors import StillroomError

HF_TOKEN_ENV = "HF_TOKEN"
"""The variable holding a Hugging Face token (the one `huggingface_hub` reads)."""

HUB_URL = "https://huggingface.co"
ENDPOINTS_API_URL = "https://api.endpoints.huggingface.cloud/v2"

ENDPOINT_WAIT_SECONDS = 300.0
"""Longest wait for a starting or resumed endpoint to run."""
ENDPOINT_POLL_SECONDS = 5.0

_STARTING = {"pending", "initializing", "updating"}
_FAILED = {"failed", "updateFailed"}


def hub_token(variable: str | None) -> SecretStr | None:
    """The token in `$variable`, else the one `huggingface-cli login` saved, else None."""
    value = os.environ.get(variable) if variable else None
    if not value:
        home = os.environ.get("HF_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
        )
        path = Path(os.environ.get("HF_TOKEN_PATH") or os.path.join(home, "token"))
        try:
            value = path.read_text().strip()
        except OSError:
            value = ""
    return SecretStr(value) if value else None


@dataclass(frozen=True)
class Endpoint:
    """A running dedicated endpoint: where to send requests and which model it serves."""

    url: str
    repository: str | None


def resolve_endpoint(
    name: str, namespace: str | None, token: str, *, timeout: float, label: str
) -> Endpoint:
    """The URL of the endpoint `namespace/name`, resumed and waited for if need be."""
    import httpx

    headers = {"authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(headers=headers, timeout=timeout) as client:

        def call(method: str, url: str) -> dict[str, Any]:
            try:
                reply = client.request(method, url)
            except httpx.HTTPError as exc:
                raise StillroomError(f"{label}: {method} {url} failed: {exc}") from None
            if reply.status_code in (401, 403):
                raise StillroomError(
                    f"{label}: the Hugging Face token was refused ({reply.status_code}) by "
                    f"{url}: check the `api_key` field or the {HF_TOKEN_ENV} environment "
                    "variable."
                )
            if reply.status_code == 404:
                raise StillroomError(
                    f"{label}: no Inference Endpoint {namespace}/{name} (404 from {url}); "
                    "check endpoint_name and endpoint_namespace."
                )
            if reply.status_code >= 400:
                raise StillroomError(
                    f"{label}: {method} {url} answered {reply.status_code}: {reply.text[:300]}"
                )
            data = reply.json()
            if not isinstance(data, dict):
                raise StillroomError(f"{label}: unexpected reply from {url}: {reply.text[:300]}")
            return data

        if namespace is None:
            namespace = str(call("GET", f"{HUB_URL}/api/whoami-v2").get("name", ""))
        url = f"{ENDPOINTS_API_URL}/endpoint/{namespace}/{name}"
        info = call("GET", url)
        deadline = time.monotonic() + ENDPOINT_WAIT_SECONDS
        resumed = False
        while True:
            status = info.get("status") or {}
            state, endpoint_url = status.get("state"), status.get("url")
            if state in _FAILED:
                raise StillroomError(
                    f"{label}: the endpoint {namespace}/{name} is {state!r}: "
                    f"{status.get('message') or 'see its page on the Hub'}."
                )
            if endpoint_url and state not in _STARTING and state != "paused":
                repository = (info.get("model") or {}).get("repository")
                return Endpoint(str(endpoint_url), repository)
            if state == "paused" and not resumed:
                info, resumed = call("POST", f"{url}/resume"), True
                continue
            if time.monotonic() >= deadline:
                raise StillroomError(
                    f"{label}: the endpoint {namespace}/{name} is still {state!r} after "
                    f"{ENDPOINT_WAIT_SECONDS:g} s; try again once it runs."
                )
            time.sleep(ENDPOINT_POLL_SECONDS)
            info = call("GET", url)
