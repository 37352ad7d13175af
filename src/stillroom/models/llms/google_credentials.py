"""OAuth access tokens for Google Cloud APIs (Vertex AI), without Google's SDKs.

Two kinds of credentials file are read, as Google's tools write them:

- a service account's JSON key: a JWT naming the account, signed with its private key
  (google-auth's RSA signer, the `[vertexai]` extra), is exchanged for a token;
- user credentials (`gcloud auth application-default login`): the refresh token is
  exchanged for a token.

The file is `credentials_path`, else $GOOGLE_APPLICATION_CREDENTIALS, else gcloud's
application-default file. Tokens are kept until five minutes before they expire; the
exchange is one form POST to the file's `token_uri` (httpx). The metadata server of a
Google Cloud VM is not queried: pass a token as `api_key` there.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from stillroom.errors import MissingExtraError, StillroomError

CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
REFRESH_MARGIN = 300.0
"""Seconds before expiry at which a token is renewed."""


def application_default_path() -> Path:
    """Where `gcloud auth application-default login` writes the user's credentials."""
    config = os.environ.get("CLOUDSDK_CONFIG")
    if not config:
        windows = os.name == "nt"
        config = (
            os.path.join(os.environ.get("APPDATA", ""), "gcloud") if windows else "~/.config/gcloud"
        )
    return Path(config).expanduser() / "application_default_credentials.json"


def find_credentials_file(path: str | None, label: str) -> Path:
    """The credentials file to use, or a clear error saying how to provide one."""
    chosen = path or os.environ.get(CREDENTIALS_ENV)
    candidate = Path(chosen).expanduser() if chosen else application_default_path()
    if candidate.is_file():
        return candidate
    if chosen:
        raise StillroomError(
            f"{label}: the credentials file {str(candidate)!r} does not exist (from "
            f"{'credentials_path' if path else CREDENTIALS_ENV})."
        )
    raise StillroomError(
        f"{label}: no Google Cloud credentials. Set credentials_path or the {CREDENTIALS_ENV} "
        "environment variable to a service account's JSON key, run `gcloud auth "
        "application-default login`, or pass an access token as api_key."
    )


class GoogleCredentials:
    """A credentials file and the access token it currently gives."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StillroomError(
                f"{label}: cannot read the credentials file {str(path)!r}: {exc}"
            ) from None
        kind = info.get("type") if isinstance(info, dict) else None
        if kind not in ("service_account", "authorized_user"):
            raise StillroomError(
                f"{label}: {str(path)!r} is not a service account key or user credentials "
                f"(type {kind!r}); use the JSON key of a service account."
            )
        self.info: dict[str, Any] = info
        self.kind: str = kind
        self.token: str | None = None
        self.expiry = 0.0
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    @property
    def project(self) -> str | None:
        """The project the file names, if any."""
        value = self.info.get("project_id") or self.info.get("quota_project_id")
        return str(value) if value else None

    async def access_token(self, timeout: float) -> str:
        """A token valid for at least `REFRESH_MARGIN` seconds (one exchange at a time)."""
        if self.token is not None and time.time() < self.expiry - REFRESH_MARGIN:
            return self.token
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            if self.token is None or time.time() >= self.expiry - REFRESH_MARGIN:
                self.token, lifetime = await self._exchange(timeout)
                self.expiry = time.time() + lifetime
        return self.token

    def _grant(self) -> dict[str, str]:
        if self.kind == "authorized_user":
            return {
                "grant_type": "refresh_token",
                "client_id": str(self.info.get("client_id", "")),
                "client_secret": str(self.info.get("client_secret", "")),
                "refresh_token": str(self.info.get("refresh_token", "")),
            }
        return {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": self._signed_assertion(),
        }

    def _signed_assertion(self) -> str:
        try:
            from google.auth import crypt, jwt
        except ImportError as exc:
            raise MissingExtraError(
                "VertexAILLM with a service account key", "vertexai", "google-auth"
            ) from exc
        now = int(time.time())
        claims = {
            "iss": self.info.get("client_email"),
            "scope": SCOPE,
            "aud": self._token_uri(),
            "iat": now,
            "exp": now + 3600,
        }
        # google-auth has no type hints: its two functions are used as untyped callables
        from_info: Any = crypt.RSASigner.from_service_account_info
        encode: Any = jwt.encode
        try:
            signer = from_info(self.info)
        except (ValueError, KeyError) as exc:
            raise StillroomError(
                f"{self.label}: the service account key {str(self.path)!r} cannot sign "
                f"({exc}); download a new JSON key."
            ) from None
        return bytes(encode(signer, claims)).decode()

    def _token_uri(self) -> str:
        return str(self.info.get("token_uri") or TOKEN_URI)

    async def _exchange(self, timeout: float) -> tuple[str, float]:
        import httpx

        uri = self._token_uri()
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                reply = await client.post(uri, data=self._grant())
        except httpx.HTTPError as exc:
            raise StillroomError(
                f"{self.label}: the token request to {uri} failed: {exc}"
            ) from None
        try:
            data = reply.json()
        except ValueError:
            data = {}
        if reply.status_code != 200 or not isinstance(data.get("access_token"), str):
            detail = data.get("error_description") or data.get("error") or reply.text[:200]
            raise StillroomError(
                f"{self.label}: {uri} refused the credentials in {str(self.path)!r} "
                f"({reply.status_code}: {detail}); check credentials_path / {CREDENTIALS_ENV}."
            )
        return data["access_token"], float(data.get("expires_in") or 3600)
