"""Steps that project and cluster embeddings, and name the clusters (mirrors
`distilabel.steps.clustering`)."""
