"""Global steps that export a run's rows (mirrors `distilabel.steps.globals`)."""
