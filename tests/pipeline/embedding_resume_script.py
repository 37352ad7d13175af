"""A pipeline run in a subprocess by the embedding cache tests: texts >> EmbeddingGeneration,
the vectors from the mock server's `/v1/embeddings` (MOCK_SERVER_URL).

Usage: embedding_resume_script.py ROWS. Checkpoints are rare (one a minute), so a run killed
early has recorded no unit: only the request cache can spare its answered requests.
Prints one JSON line: {"completed": bool, "rows": int}.
"""

from __future__ import annotations

import json
import os
import sys

from stillroom.models.embeddings import OpenAIEmbeddings
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.embeddings.embedding_generation import EmbeddingGeneration

if __name__ == "__main__":
    rows = int(sys.argv[1])
    embeddings = OpenAIEmbeddings(
        model="embed-small",
        base_url=os.environ["MOCK_SERVER_URL"],
        api_key_env=None,
        dimensions=4,
        batch_size=5,
        retry_backoff=0.01,
    )
    with Pipeline(name="embedding-resume") as pipeline:
        load = LoadDataFromDicts(data=[{"text": f"t{i}"} for i in range(rows)], batch_size=10)
        load >> EmbeddingGeneration(embeddings=embeddings, input_batch_size=5)
    distiset = pipeline.run(checkpoint_interval=60, progress=False)
    summary = distiset.summary
    print(json.dumps({"completed": summary.completed, "rows": summary.rows["default"]}))
