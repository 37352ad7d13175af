"""`stillroom.pipeline.local` (mirrors `distilabel.pipeline.local`): the pipeline that runs in
this process. distilabel runs each step in its own process here; stillroom's `Pipeline`
runs them all on one event loop (see docs/architecture.md), so it is the same class.
"""

from stillroom.pipeline.base import Pipeline

__all__ = ["Pipeline"]
