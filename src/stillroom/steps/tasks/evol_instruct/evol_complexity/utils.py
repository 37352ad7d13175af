"""The default mutation templates of `EvolComplexity` and `EvolComplexityGenerator`, under
the names distilabel gives them. The texts are stillroom's own."""

from stillroom.steps.tasks.evol_instruct import mutations

MUTATION_TEMPLATES: dict[str, str] = mutations.evol_complexity_templates()
GENERATION_MUTATION_TEMPLATES: dict[str, str] = mutations.with_fresh_start(MUTATION_TEMPLATES)

__all__ = ["GENERATION_MUTATION_TEMPLATES", "MUTATION_TEMPLATES"]
