"""Pipelines: wire steps into a graph and run them."""
