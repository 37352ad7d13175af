"""Steps that compute embeddings and search them (mirrors `distilabel.steps.embeddings`)."""
