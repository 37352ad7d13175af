"""The default mutation templates of `EvolInstruct` and `EvolInstructGenerator`, under the
names distilabel gives them (`distilabel.steps.tasks.evol_instruct.utils`). The texts are
stillroom's own (`templates/evol_instruct/`), so replies differ from distilabel's."""

from stillroom.steps.tasks.evol_instruct import mutations

MUTATION_TEMPLATES: dict[str, str] = mutations.evol_instruct_templates()
GENERATION_MUTATION_TEMPLATES: dict[str, str] = mutations.with_fresh_start(MUTATION_TEMPLATES)

__all__ = ["GENERATION_MUTATION_TEMPLATES", "MUTATION_TEMPLATES"]
