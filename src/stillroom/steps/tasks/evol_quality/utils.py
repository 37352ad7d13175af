"""The default mutation templates of `EvolQuality`, under the name distilabel gives them.
The texts are stillroom's own."""

from stillroom.steps.tasks.evol_instruct import mutations

MUTATION_TEMPLATES: dict[str, str] = mutations.evol_quality_templates()

__all__ = ["MUTATION_TEMPLATES"]
