"""Names shared across packages (mirrors `distilabel.constants`)."""

STILLROOM_METADATA_KEY = "stillroom_metadata"
"""Column holding raw inputs/outputs, token statistics and errors, keyed by step name."""
