"""Signatures: short stable hashes of a step's configuration and of a whole pipeline.

A step's signature covers its configuration and its predecessors' signatures, so changing a
step changes the signature of everything downstream of it and of nothing else. The pipeline's
signature names the run directory a checkpoint belongs to. A step's `resources` (replicas,
CPUs, GPUs: how it runs on Ray, not what it computes) are left out, so a run resumes whatever
resources it is given, on Ray or locally; likewise an LLM's transport fields (timeouts,
retries, concurrency, rate limits, prices), so a run can resume with more requests in
flight. Secrets never enter a signature,
and objects that cannot be dumped (a mock LLM scripted with a function) are described by their
qualified names, so the signature stays the same from one process to the next. A step whose
configuration holds text that is not valid Unicode (a lone surrogate) has no signature: the
error names the step and where in its configuration that text is.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from stillroom.models.llms.base import LLM
from stillroom.steps.base import StepResources
from stillroom.utils.serialization import secret_fields
from stillroom.utils.text import InvalidTextError, invalid_text, lone_surrogate, subscripts

if TYPE_CHECKING:
    from stillroom.pipeline.graph import DAG
    from stillroom.steps.base import _Step


def qualified_name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _describe(value: Any) -> Any:
    """`json.dumps` fallback: a JSON-able stand-in for objects json does not know."""
    if isinstance(value, SecretStr):
        return None
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        secrets = secret_fields(type(value))
        if isinstance(value, LLM):  # how requests are sent is not what the run computes
            secrets = secrets | value.transport_fields()
        digested: frozenset[str] = getattr(type(value), "signature_digests", frozenset())
        described: dict[str, Any] = {
            name: rows_digest(getattr(value, name)) if name in digested else getattr(value, name)
            for name, field in fields.items()
            if not field.exclude
            and name not in secrets
            and not isinstance(getattr(value, name, None), (SecretStr, StepResources))
        }
        described["__type__"] = qualified_name(type(value))
        return described
    if isinstance(value, type):
        if issubclass(value, BaseModel):
            return {"__schema__": value.model_json_schema()}
        return {"__type__": qualified_name(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, BaseException):
        return {"__error__": qualified_name(type(value)), "args": [str(a) for a in value.args]}
    if callable(value):
        return {"__callable__": qualified_name(value)}
    if isinstance(value, bytes):
        return value.hex()
    return {"__repr__": type(value).__name__}


def rows_digest(rows: list[Any]) -> dict[str, Any]:
    """A list of rows in a signature: its length and a hash of each row's canonical JSON,
    computed row by row (the whole list is never encoded as one text)."""
    hasher = hashlib.blake2b(digest_size=16)
    for row in rows:
        hasher.update(canonical_json(row).encode("utf-8", "surrogatepass"))
        hasher.update(b"\n")
    return {"__rows__": len(rows), "__blake2b__": hasher.hexdigest()}


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_describe
)
"""Made once: `canonical_json` runs for every request (its cache key)."""


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys, so equal configurations give equal text."""
    return _CANONICAL.encode(value)


def digest(text: str | bytes, size: int = 16) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def step_signatures(dag: DAG) -> dict[str, str]:
    """name -> hash of the step's configuration and of its predecessors' signatures."""
    signatures: dict[str, str] = {}
    for name in dag.topological_order():
        inputs = [signatures[p] for p in dag.predecessors(name)]
        step = dag.steps[name]
        try:
            encoded = canonical_json([step, inputs]).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _invalid_configuration_text(step) from exc
        signatures[name] = digest(encoded)
    return signatures


def _invalid_configuration_text(step: _Step) -> InvalidTextError:
    """The error naming `step` and the field of its configuration holding invalid text."""
    found = lone_surrogate(json.loads(canonical_json(step)))
    assert found is not None, "text that failed to encode holds a lone surrogate"
    (field, *rest), char = found
    where = f"field {field!r}" + (f" at {subscripts(tuple(rest))}" if rest else "")
    return invalid_text(step._label(), where, char)


def pipeline_signature(dag: DAG) -> str:
    """One hash for the whole graph: every step's signature, every edge and, when batches
    are routed, the routing batch functions (which also seed the routing)."""
    parts: list[Any] = [sorted(step_signatures(dag).items()), sorted(dag.edges)]
    if dag.routing:
        parts.append(sorted((name, routing_identity(r)) for name, r in dag.routing.items()))
    return digest(canonical_json(parts))


def routing_identity(routing: Any) -> Any:
    """What identifies a routing batch function (or a plain function used as one)."""
    identity = getattr(routing, "identity", None)
    return identity() if callable(identity) else qualified_name(routing)
