"""`ArgillaBase`: what the Argilla steps share: the connection, and the dataset found or
created in Argilla when the step loads (the `argilla` SDK, from the `[argilla]` extra)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

import httpx
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PrivateAttr, SecretStr

from stillroom.errors import MissingExtraError, StillroomError, StillroomUserError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.argilla.transport import RetryingTransport
from stillroom.steps.base import Step, StepInput
from stillroom.steps.typing import StepColumns, StepOutput

ARGILLA_API_URL_ENV = "ARGILLA_API_URL"
ARGILLA_API_KEY_ENV = "ARGILLA_API_KEY"


def _secret_from_env() -> SecretStr | None:
    value = os.environ.get(ARGILLA_API_KEY_ENV)
    return SecretStr(value) if value else None


class ArgillaBase(Step, ABC):
    """Base of the steps that log rows as records of an Argilla dataset.

    `load()` connects to the server (`api_url`, `api_key`, by default from `$ARGILLA_API_URL`
    and `$ARGILLA_API_KEY`), then finds `dataset_name` in `dataset_workspace` (the user's
    first workspace when None) or creates it with the subclass's fields and questions. An
    existing dataset is reused only if it has no required field the step cannot fill.
    `process` logs each batch's records and passes the rows on unchanged. Requests answered
    429 or 5xx are sent again (`max_retries`, waits growing from `retry_backoff` seconds).
    """

    dataset_name: RuntimeParameter[str] = Field(description="The dataset's name in Argilla.")
    dataset_workspace: RuntimeParameter[str] | None = Field(
        default=None, description="The workspace; the user's first one when None."
    )
    api_url: RuntimeParameter[str] | None = Field(
        default_factory=lambda: os.environ.get(ARGILLA_API_URL_ENV),
        description=f"The Argilla server's URL (default ${ARGILLA_API_URL_ENV}).",
    )
    api_key: RuntimeParameter[SecretStr] | None = Field(
        default_factory=_secret_from_env,
        description=f"The Argilla API key (default ${ARGILLA_API_KEY_ENV}).",
    )
    max_retries: NonNegativeInt = Field(
        default=3, description="Times a request answered 429 or 5xx is sent again."
    )
    retry_backoff: NonNegativeFloat = Field(
        default=1.0, description="Seconds before the first retry; doubled each time."
    )

    _rg: Any = PrivateAttr(default=None)  # the argilla module
    _client: Any = PrivateAttr(default=None)
    _dataset: Any = PrivateAttr(default=None)

    @property
    def outputs(self) -> StepColumns:
        return []

    @property
    @abstractmethod
    def inputs(self) -> StepColumns: ...

    @abstractmethod
    def _settings(self) -> Any:
        """The `rg.Settings` (fields and questions) of a dataset this step creates."""

    @abstractmethod
    def _field_names(self) -> set[str]:
        """The fields this step fills in each record."""

    @abstractmethod
    def _records(self, rows: list[dict[str, Any]]) -> list[Any]:
        """The `rg.Record`s for a batch of rows."""

    def load(self) -> None:
        super().load()
        if not self.api_url or self.api_key is None:
            raise StillroomUserError(
                f"{self._label()} needs the Argilla server's address and an API key: pass "
                f"api_url=... and api_key=..., or set {ARGILLA_API_URL_ENV} and "
                f"{ARGILLA_API_KEY_ENV}."
            )
        try:
            import argilla
        except ImportError as exc:
            raise MissingExtraError(self._label(), "argilla", "argilla") from exc
        self._rg = argilla
        retrying = RetryingTransport(httpx.HTTPTransport(), self.max_retries, self.retry_backoff)
        self._client = self._call(
            "connecting",
            lambda: argilla.Argilla(
                api_url=self.api_url,
                api_key=self.api_key.get_secret_value(),
                mounts={"http://": retrying, "https://": retrying},
            ),
        )
        self._dataset = self._call("finding or creating the dataset", self._find_or_create)

    def unload(self) -> None:
        self._client = self._dataset = None
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:
        records = self._records(inputs)
        if records:
            self._call("logging records", lambda: self._dataset.records.log(records))
        yield inputs

    def _find_or_create(self) -> Any:
        import warnings

        # The SDK warns "not found" and "using the default workspace": answers, not problems.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            found = self._client.datasets(name=self.dataset_name, workspace=self.dataset_workspace)
            if found is None:
                dataset = self._rg.Dataset(
                    name=self.dataset_name,
                    workspace=self.dataset_workspace,
                    settings=self._settings(),
                    client=self._client,
                )
                return dataset.create()
        ours = self._field_names()
        unfilled = [
            field.name
            for field in found.fields
            if isinstance(field, self._rg.TextField) and field.required and field.name not in ours
        ]
        if unfilled:
            raise StillroomUserError(
                f"{self._label()}: the Argilla dataset {self.dataset_name!r} already exists with "
                f"required fields this step cannot fill: {', '.join(sorted(unfilled))} (it "
                f"fills {', '.join(sorted(ours))}). Use another dataset_name, or delete it."
            )
        return found

    def _call(self, action: str, call: Any) -> Any:
        """`call()`, with Argilla's errors turned into messages naming the step and the fix."""
        from argilla._exceptions import ArgillaCredentialsError, ArgillaError, UnauthorizedError

        try:
            return call()
        except (UnauthorizedError, ArgillaCredentialsError) as exc:
            raise StillroomError(
                f"{self._label()}: the Argilla server at {self.api_url} refused the API key "
                f"(HTTP 401) while {action}; check api_key or ${ARGILLA_API_KEY_ENV}."
            ) from exc
        except (ArgillaError, httpx.HTTPError) as exc:
            raise StillroomError(
                f"{self._label()}: Argilla at {self.api_url} failed while {action}: {exc}"
            ) from exc
