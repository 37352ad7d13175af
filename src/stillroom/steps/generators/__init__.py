"""Generator steps: the sources of a pipeline's rows."""
