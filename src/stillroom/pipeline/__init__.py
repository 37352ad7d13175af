"""Pipelines: wire steps into a graph and run them (mirrors `distilabel.pipeline`)."""

from stillroom.pipeline.base import Pipeline

__all__ = ["Pipeline"]
