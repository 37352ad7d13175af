"""Mutation templates of the Evol tasks, and the randomness that picks among them.

A mutation template is a Jinja2 prompt that asks the LLM to rewrite an instruction (or a
response) in one particular way. Users may pass their own as `mutation_templates`; the
placeholders distilabel uses, `<PROMPT>` and `<RESPONSE>`, are accepted too and become
`{{ instruction }}` and `{{ response }}`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from stillroom.errors import StillroomError, step_label
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.tasks.base import RowInputError
from stillroom.typing import ChatType
from stillroom.utils import templates

FRESH_START = "FRESH_START"
"""The mutation that writes a new instruction from seed words (generator tasks only)."""

_IN_DEPTH = {
    "CONSTRAINTS": "evol_instruct/constraints",
    "DEEPENING": "evol_instruct/deepening",
    "CONCRETIZING": "evol_instruct/concretizing",
    "INCREASED_REASONING_STEPS": "evol_instruct/reasoning",
}
_IN_BREADTH = {"BREADTH": "evol_instruct/breadth"}
_QUALITY = {
    "HELPFULNESS": "evol_quality/helpfulness",
    "RELEVANCE": "evol_quality/relevance",
    "DEEPENING": "evol_quality/deepening",
    "CREATIVITY": "evol_quality/creativity",
    "DETAILS": "evol_quality/details",
}
_PLACEHOLDERS = {"<PROMPT>": "{{ instruction }}", "<RESPONSE>": "{{ response }}"}


def _load(names: dict[str, str]) -> dict[str, str]:
    return {key: templates.package_template(name) for key, name in names.items()}


def evol_instruct_templates() -> dict[str, str]:
    """In-depth mutations (harder versions) plus the in-breadth one (a new, rarer topic)."""
    return _load({**_IN_DEPTH, **_IN_BREADTH})


def evol_complexity_templates() -> dict[str, str]:
    """In-depth mutations only: each round makes the same instruction more complex."""
    return _load(_IN_DEPTH)


def with_fresh_start(mutations: dict[str, str]) -> dict[str, str]:
    """`mutations` plus FRESH_START, for tasks that write instructions from nothing."""
    return {FRESH_START: templates.package_template("evol_instruct/fresh_start"), **mutations}


def evol_quality_templates() -> dict[str, str]:
    """Mutations that rewrite a response to be better in one respect."""
    return _load(_QUALITY)


def check_mutation_templates(
    owner: str, mutations: dict[str, str], allowed: Iterable[str]
) -> dict[str, str]:
    """`mutations` with distilabel placeholders converted, each checked to be a valid, safe
    template reading only `allowed` variables; raises a clear error naming `owner` otherwise."""
    allowed = set(allowed)
    if not mutations:
        raise StillroomError(f"{owner}: mutation_templates must hold at least one template.")
    converted = {}
    for key, source in mutations.items():
        for placeholder, variable in _PLACEHOLDERS.items():
            source = source.replace(placeholder, variable)
        templates.check(source, owner=owner, field=_field(key))
        unknown = templates.variables(source) - allowed
        if unknown:
            raise StillroomError(
                f"{owner}: mutation template {key!r} uses {sorted(unknown)}; it may only use "
                f"{sorted(allowed)} (as {{{{ name }}}})."
            )
        converted[key] = source
    return converted


def _field(key: str) -> str:
    return f"field 'mutation_templates' (template {key!r})"


class EvolMutationsMixin(BaseModel):
    """`mutation_templates` (checked and converted on assignment), `seed`, and the request
    a mutation makes. Subclasses redeclare `mutation_templates` with their default set and
    list the variables their templates may read in `_template_variables`."""

    mutation_templates: dict[str, str] = Field(
        default_factory=dict, description="Mutation name -> Jinja2 prompt."
    )
    seed: RuntimeParameter[int] = Field(
        default=42, description="Seed of the random choice of mutations."
    )

    add_raw_transcript: bool = Field(
        default=False,
        description="Also keep every request sent and reply received for a row in the "
        "metadata column (`raw_input_<name>` / `raw_output_<name>`, one item per request); "
        "by default only the token counts are kept, as in distilabel.",
    )

    _template_variables: ClassVar[tuple[str, ...]] = ("instruction",)
    _stillroom_fields: ClassVar[frozenset[str]] = frozenset({"add_raw_transcript"})

    @property
    def records_transcript(self) -> bool:
        return self.add_raw_transcript

    @field_validator("mutation_templates")
    @classmethod
    def _check_templates(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        owner = step_label(cls, info.data.get("name"))
        return check_mutation_templates(owner, value, cls._template_variables)

    def _mutation_request(self, name: str, values: dict[str, Any]) -> ChatType:
        """The request applying mutation `name`, rendered with `values` in the sandbox."""
        owner = step_label(type(self), getattr(self, "name", None))
        prompt = templates.render(
            self.mutation_templates[name], owner=owner, field=_field(name), **values
        )
        return [{"role": "user", "content": prompt}]

    def _text(self, row: dict[str, Any], column: str) -> str:
        """Column `column` of `row`, which must hold text (else the row is kept, failed)."""
        value = row[column]
        if not isinstance(value, str):
            raise RowInputError(
                f"{type(self).__name__}: column {column!r} must hold text, got "
                f"{type(value).__name__}."
            )
        return value


def rng_for(seed: int, *parts: object) -> random.Random:
    """A random generator determined by `seed` and `parts` (e.g. the row's instruction).

    Seeding per row makes each row's choice of mutations independent of batch order, so a
    resumed run sends the same prompts again and hits the request cache.
    """
    digest = hashlib.sha256(repr((seed, *parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


SEED_WORDS: tuple[str, ...] = tuple(
    [
        "airport",
        "algebra",
        "allergy",
        "antenna",
        "apprentice",
        "aquarium",
        "archive",
        "auction",
        "avalanche",
        "bakery",
        "balcony",
        "battery",
        "beekeeping",
        "bicycle",
        "biography",
        "blueprint",
        "border",
        "budget",
        "calendar",
        "canal",
        "candle",
        "carpentry",
        "census",
        "ceramics",
        "charity",
        "chemistry",
        "chess",
        "climate",
        "compass",
        "compost",
        "concert",
        "contract",
        "coral",
        "courtroom",
        "crossword",
        "currency",
        "dam",
        "debate",
        "democracy",
        "desert",
        "diary",
        "dialect",
        "diet",
        "dinosaur",
        "drought",
        "earthquake",
        "eclipse",
        "election",
        "elevator",
        "embroidery",
        "encryption",
        "engine",
        "erosion",
        "exhibition",
        "factory",
        "ferry",
        "festival",
        "fiction",
        "firewall",
        "fishing",
        "folklore",
        "forest",
        "fossil",
        "fountain",
        "friendship",
        "galaxy",
        "garden",
        "genealogy",
        "glacier",
        "grammar",
        "greenhouse",
        "harbor",
        "harvest",
        "helicopter",
        "hospital",
        "hurricane",
        "insurance",
        "interview",
        "invoice",
        "irrigation",
        "island",
        "journalism",
        "kitchen",
        "ladder",
        "language",
        "lantern",
        "library",
        "lighthouse",
        "logistics",
        "lottery",
        "magnet",
        "marathon",
        "market",
        "microscope",
        "migration",
        "mortgage",
        "mosaic",
        "mountain",
        "museum",
        "negotiation",
        "newspaper",
        "nutrition",
        "observatory",
        "ocean",
        "orchestra",
        "origami",
        "painting",
        "pandemic",
        "parliament",
        "password",
        "pension",
        "pharmacy",
        "photography",
        "pilgrimage",
        "planet",
        "plumbing",
        "poetry",
        "pottery",
        "printer",
        "probability",
        "puzzle",
        "railway",
        "rainforest",
        "recipe",
        "recycling",
        "refugee",
        "reservoir",
        "robot",
        "sailing",
        "satellite",
        "scholarship",
        "sculpture",
        "semiconductor",
        "shipwreck",
        "skyscraper",
        "soil",
        "spreadsheet",
        "stadium",
        "statistics",
        "submarine",
        "subway",
        "telescope",
        "tenant",
        "textile",
        "theater",
        "tide",
        "timber",
        "tournament",
        "translation",
        "tunnel",
        "typewriter",
        "university",
        "vaccine",
        "violin",
        "volcano",
        "volunteer",
        "warehouse",
        "weather",
        "wedding",
        "wetland",
        "windmill",
        "wine",
        "workshop",
        "yoga",
        "zoo",
    ]
)
"""Nouns that seed the FRESH_START mutation, so that new instructions cover many subjects."""
